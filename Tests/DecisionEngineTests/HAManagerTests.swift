import ChainModel
import DecisionEngine
import Testing

@Suite struct HAManagerTests {
    func at(_ seconds: Double) -> MonotonicTime { MonotonicTime(milliseconds: Int64(seconds * 1000)) }

    func view(_ states: [String: NodeState], vms: [VM] = []) -> ClusterView {
        ClusterView(
            now: Timestamp(secondsSinceEpoch: 1_800_000_000),
            nodes: states.map { Node(name: NodeName($0.key), state: $0.value, memoryMiB: 16384) },
            volumes: [Volume(id: VolumeID("csv1"), name: "csv1")],
            mounts: states.keys.map {
                VolumeMount(
                    volume: VolumeID("csv1"),
                    node: NodeName($0),
                    mountPath: "/mnt/csv1",
                    lastProbeAt: Timestamp(secondsSinceEpoch: 1_800_000_000)
                )
            },
            placements: vms.map(VMPlacement.init)
        )
    }

    let web1 = VM(
        id: VMID("web1"),
        name: "web1",
        ownership: Ownership(owner: NodeName("node1"), epoch: .initial),
        state: .running,
        files: [
            VMFile(
                location: .volume(VolumeID("csv1"), relativePath: "web1.vhdx"),
                path: "/mnt/csv1/web1.vhdx",
                kind: .disk
            )
        ]
    )

    @Test func nothingIsDeclaredDownDuringTheStartupWait() {
        var manager = HAManager(settings: HASettings(leaseTTL: .seconds(10)), startedAt: at(0))
        let cluster = view(["node1": .up, "node2": .up])
        #expect(manager.tick(at: at(9.9), view: cluster, memory: .init(), vmsOwnedBy: { _ in [] }).isEmpty)
        let actions = manager.tick(at: at(11.1), view: cluster, memory: .init(), vmsOwnedBy: { _ in [] })
        #expect(actions.count == 4)
        #expect(
            actions.first
                == .setState(NodeName("node1"), .down, because: "no heartbeat since the coordinator started 11.1s ago")
        )
    }

    @Test func aFencedNodeIsReadmittedOnlyAfterItsFailoversEnd() {
        var manager = HAManager(settings: HASettings(leaseTTL: .seconds(10)), startedAt: at(0))
        _ = manager.heartbeat(from: NodeName("node1"), state: .up, at: at(1))
        _ = manager.heartbeat(from: NodeName("node2"), state: .up, at: at(11))
        let actions = manager.tick(
            at: at(12.5),
            view: view(["node1": .up, "node2": .up], vms: [web1]),
            memory: .init(),
            vmsOwnedBy: { $0 == NodeName("node1") ? [self.web1] : [] }
        )
        #expect(
            actions.map(\.description) == [
                "node node1 down: its lease ran out 1.5s ago",
                "node node1 fenced: its lease ran out, so its agent and its watchdog have fenced it (no fence command is configured)",
                "failover web1: node1 -> node2",
            ]
        )
        let early = manager.heartbeat(from: NodeName("node1"), state: .fenced, at: at(13))
        #expect(!early.admission.admitted)
        #expect(manager.failoverFinished(VMID("web1"), outcome: .committed).isEmpty)
        let later = manager.heartbeat(from: NodeName("node1"), state: .fenced, at: at(14))
        #expect(later.admission.admitted)
        #expect(later.actions.count == 1)
    }

    @Test func fenceConfirmIsRefusedWhileTheLeaseHolds() throws {
        var manager = HAManager(settings: HASettings(leaseTTL: .seconds(10)), startedAt: at(0))
        _ = manager.heartbeat(from: NodeName("node1"), state: .up, at: at(20))
        #expect(throws: HARefusal.self) { try manager.confirmFenced(NodeName("node1"), state: .up, at: at(25)) }
        #expect(try manager.confirmFenced(NodeName("node1"), state: .down, at: at(25)).count == 1)
    }

    @Test func aFailedFenceCommandIsRetriedAndBlocksFailover() {
        var manager = HAManager(settings: HASettings(leaseTTL: .seconds(10), hasFenceCommand: true), startedAt: at(0))
        let cluster = view(["node1": .down, "node2": .up])
        _ = manager.heartbeat(from: NodeName("node2"), state: .up, at: at(10))
        #expect(
            manager.tick(at: at(10.5), view: cluster, memory: .init(), vmsOwnedBy: { _ in [] }) == [
                .runFence(NodeName("node1"))
            ]
        )
        #expect(manager.fenceFinished(NodeName("node1"), succeeded: false, state: .down, at: at(11)).isEmpty)
        #expect(manager.tick(at: at(15), view: cluster, memory: .init(), vmsOwnedBy: { _ in [] }).isEmpty)
        #expect(
            manager.tick(at: at(21), view: cluster, memory: .init(), vmsOwnedBy: { _ in [] }) == [
                .runFence(NodeName("node1"))
            ]
        )
        #expect(
            manager.fenceFinished(NodeName("node1"), succeeded: true, state: .down, at: at(22))
                == [.setState(NodeName("node1"), .fenced, because: "the fence command succeeded")]
        )
    }
}
