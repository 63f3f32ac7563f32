import ChainModel

/// What a failover round tells agents about storage heartbeats (SPEC §6): the shared volumes each node writes its
/// record to, and whose records it reads (`StorageReaders`).
///
/// Computed from a round's view outside the failover manager's actor and installed in it whole: at 640 nodes the
/// computation took 3-5 ms a round, 14-50 ms while a node's lease was running out, and every heartbeat that arrived
/// meanwhile waited for it (issue 27).
public struct StorageObservation: Sendable, Equatable {
    /// Per node, the volumes it shares with another node, sorted.
    public var shared: [NodeName: [String]]
    /// Per node, the peers whose records it reads, sorted.
    public var readPeers: [NodeName: [String]]

    /// `lapsing`: nodes whose lease has less than half left (or none), read by every node they share a volume with.
    public init(view: ClusterView, lapsing: Set<NodeName>) {
        var reach: [VolumeID: Set<NodeName>] = [:]
        for (volume, mounts) in view.mounts { reach[volume, default: []].formUnion(mounts.keys) }
        var shared: [NodeName: [String]] = [:]
        for (volume, nodes) in reach where nodes.count > 1 {
            for node in nodes { shared[node, default: []].append(volume.rawValue) }
        }
        self.shared = shared.mapValues { $0.sorted() }
        readPeers = StorageReaders.assign(reach: reach, lapsing: lapsing).mapValues { $0.map(\.rawValue) }
    }
}
