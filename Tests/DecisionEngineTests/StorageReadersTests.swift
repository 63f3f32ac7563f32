import ChainModel
import DecisionEngine
import Testing

/// Whose storage heartbeat each node reads (SPEC §6 at SPEC §9's scale): a ring of two readers per volume, and every
/// node sharing a volume with one whose lease is running out.
@Suite struct StorageReadersTests {
    func names(_ count: Int) -> [NodeName] {
        (1...count).map { NodeName("node" + String(String(1000 + $0).dropFirst())) }
    }

    @Test func eachNodeIsWatchedByTwoReadersAndReadsTwoPeersPerVolume() {
        let nodes = names(640)
        let reads = StorageReaders.assign(reach: [VolumeID("csv1"): Set(nodes)], lapsing: [])
        #expect(reads.count == 640)
        #expect(reads.values.allSatisfy { $0.count == 2 })
        var watchers: [NodeName: Int] = [:]
        for peers in reads.values { for peer in peers { watchers[peer, default: 0] += 1 } }
        #expect(watchers.count == 640 && watchers.values.allSatisfy { $0 == 2 }, "every node has two readers")
        #expect(reads[nodes[639]] == [nodes[0], nodes[1]], "the ring wraps around")
        for (node, peers) in reads { #expect(!peers.contains(node), "no node reads itself") }
    }

    @Test func aLapsingNodeIsReadByEveryNodeItSharesAVolumeWith() {
        let nodes = names(6)
        let reach: [VolumeID: Set<NodeName>] = [
            VolumeID("csv1"): Set(nodes[0...3]), VolumeID("csv2"): Set([nodes[3], nodes[4]]),
            VolumeID("local5"): [nodes[5]],
        ]
        let reads = StorageReaders.assign(reach: reach, lapsing: [nodes[3]])
        for reader in nodes[0...2] { #expect(reads[reader]?.contains(nodes[3]) == true) }
        #expect(reads[nodes[4]] == [nodes[3]])
        #expect(reads[nodes[5]] == nil, "a node that shares no volume reads nothing")
        // Two nodes on a volume read each other; a ring wider than the volume reads every peer once.
        #expect(StorageReaders.assign(reach: [VolumeID("v"): Set(nodes[0...1])], lapsing: [])[nodes[0]] == [nodes[1]])
    }
}
