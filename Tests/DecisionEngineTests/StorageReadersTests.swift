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

    @Test func aRoundsObservationNamesSharedVolumesAndTheReadersOfALapsingNode() {
        let nodes = names(5)
        let mount = { (volume: String, node: NodeName) in
            VolumeMount(volume: VolumeID(volume), node: node, mountPath: "/mnt/" + volume)
        }
        let view = ClusterView(
            now: Timestamp(millisecondsSinceEpoch: 0),
            nodes: nodes.map { Node(name: $0) },
            mounts: nodes[0...3].map { mount("csv1", $0) } + [mount("csv2", nodes[3]), mount("csv2", nodes[2])]
                + [mount("local4", nodes[4])]
        )
        let observation = StorageObservation(view: view, lapsing: [nodes[0]])
        #expect(observation.shared[nodes[3]] == ["csv1", "csv2"])
        #expect(observation.shared[nodes[0]] == ["csv1"])
        #expect(observation.shared[nodes[4]] == nil, "a volume only one node mounts is not shared")
        for reader in nodes[1...3] { #expect(observation.readPeers[reader]?.contains(nodes[0].rawValue) == true) }
        #expect(observation.readPeers[nodes[4]] == nil)
        // The same as `StorageReaders.assign` over the view's reach, as names.
        let reach: [VolumeID: Set<NodeName>] = [
            VolumeID("csv1"): Set(nodes[0...3]), VolumeID("csv2"): [nodes[2], nodes[3]], VolumeID("local4"): [nodes[4]],
        ]
        #expect(
            observation.readPeers
                == StorageReaders.assign(reach: reach, lapsing: [nodes[0]]).mapValues { $0.map(\.rawValue) }
        )
    }

    @Test func everyNodeOfAVolumeReadsEachLapsingPeerOnce() {
        let nodes = names(640)
        let lapsing = Set([nodes[5], nodes[600]])
        let reads = StorageReaders.assign(reach: [VolumeID("csv1"): Set(nodes)], lapsing: lapsing)
        for (node, peers) in reads {
            #expect(Set(peers).count == peers.count, "\(node) reads a peer twice")
            for peer in lapsing where peer != node { #expect(peers.contains(peer), "\(node) does not read \(peer)") }
            #expect(!peers.contains(node))
        }
        #expect(reads[nodes[5]]?.contains(nodes[600]) == true, "a lapsing node reads the other lapsing one too")
    }
}
