import ChainModel

/// Whose storage heartbeat each node reads (SPEC §6, at SPEC §9's scale): not every peer every period.
///
/// On each shared volume the nodes that reach it form a ring in name order, and each node reads the next `ring` nodes
/// after it: every node is watched by `ring` readers all the time, so when its lease runs out they already know how
/// long its record has been unchanged, and the down evidence comes as early as with every peer reading it. A node
/// whose lease is running out (`lapsing`) is read by every node it shares a volume with, so that one dead reader or
/// one dishonest one is outweighed. Reads per agent and period: about `ring` per volume instead of every peer.
public enum StorageReaders {
    /// Readers per node in the ring.
    public static let ring = 2
    /// At most this many peers are named to one agent.
    public static let maxPeers = 256

    /// Per node, the peers it reads, sorted.
    ///
    /// `reach`: the nodes that reach each volume; `lapsing`: nodes whose lease has less than half left (or none).
    public static func assign(
        reach: [VolumeID: Set<NodeName>],
        lapsing: Set<NodeName>,
        ring: Int = StorageReaders.ring
    ) -> [NodeName: [NodeName]] {
        var reads: [NodeName: Set<NodeName>] = [:]
        for (_, nodes) in reach where nodes.count > 1 {
            let circle = nodes.sorted()
            let count = circle.count
            // Found once per volume: looking each peer up for each node was 640 × 640 lookups a round.
            let lapsingHere = lapsing.isEmpty ? [] : circle.filter(lapsing.contains)
            for (index, node) in circle.enumerated() {
                for step in 1...min(max(ring, 1), count - 1) {
                    reads[node, default: []].insert(circle[(index + step) % count])
                }
                for peer in lapsingHere where peer != node {
                    reads[node, default: []].insert(peer)
                }
            }
        }
        return reads.mapValues { Array($0.sorted().prefix(maxPeers)) }
    }
}
