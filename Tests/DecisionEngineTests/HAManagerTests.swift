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

    /// The shell sleeps until `nextLeaseDeadline`: a round at that instant declares the node down, one a millisecond
    /// before does not.
    @Test func theNextLeaseDeadlineIsTheFirstRoundThatDeclaresANodeDown() throws {
        var manager = HAManager(settings: HASettings(leaseTTL: .seconds(2)), startedAt: at(0))
        // During the start-up wait its end comes first.
        #expect(manager.nextLeaseDeadline(after: at(0.5)) == at(2))
        _ = manager.heartbeat(from: NodeName("node1"), state: .up, at: at(2.5))
        _ = manager.heartbeat(from: NodeName("node2"), state: .up, at: at(3))
        // node1's lease ends at 4.5 s, plus the clock margin (a tenth: 0.2 s), plus the millisecond `decide` waits for.
        let deadline = try #require(manager.nextLeaseDeadline(after: at(3)))
        #expect(deadline == MonotonicTime(milliseconds: 4701))
        let cluster = view(["node1": .up, "node2": .up])
        var before = manager
        let early = before.tick(
            at: deadline - .milliseconds(1),
            view: cluster,
            memory: .init(),
            vmsOwnedBy: { _ in [] }
        )
        #expect(early.isEmpty)
        let due = manager.tick(at: deadline, view: cluster, memory: .init(), vmsOwnedBy: { _ in [] })
        #expect(due.contains { $0 == .setState(NodeName("node1"), .down, because: "its lease ran out 0.2s ago") })
        #expect(!due.contains { $0 == .setState(NodeName("node2"), .down, because: "its lease ran out 0.2s ago") })
        // Past node1's deadline the next is node2's; past every one there is none.
        #expect(manager.nextLeaseDeadline(after: deadline) == MonotonicTime(milliseconds: 5201))
        #expect(manager.nextLeaseDeadline(after: at(6)) == nil)
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

    func reading(_ node: String, by reader: String, unchangedFor seconds: Double, stopped: [VM] = []) -> StorageReading
    {
        StorageReading(
            node: NodeName(node),
            volume: VolumeID("csv1"),
            reader: NodeName(reader),
            unchangedFor: .milliseconds(Int64(seconds * 1000)),
            record: StorageHeartbeat(
                node: NodeName(node),
                counter: 7,
                condition: .isolated,
                vms: stopped.map { .init(vm: $0.id, epoch: $0.ownership.epoch, running: false) }
            )
        )
    }

    /// SPEC §6: a node that writes storage heartbeats is declared down only on a reader's positive evidence.
    @Test func aWriterIsIsolatedUntilAReaderReportsItsRecordStale() throws {
        var manager = HAManager(settings: HASettings(leaseTTL: .seconds(10)), startedAt: at(0))
        _ = manager.heartbeat(from: NodeName("node1"), state: .up, writesStorage: true, at: at(1))
        _ = manager.heartbeat(from: NodeName("node2"), state: .up, writesStorage: true, at: at(11))
        let cluster = view(["node1": .up, "node2": .up], vms: [web1])
        let owned: (NodeName) -> [VM] = { $0 == NodeName("node1") ? [self.web1] : [] }
        // No report is not evidence: isolated.
        var actions = manager.tick(at: at(12.5), view: cluster, memory: .init(), vmsOwnedBy: owned)
        #expect(actions.count == 1)
        guard case .setState(let node, .isolated, _) = actions.first else {
            Issue.record("expected isolated, got \(actions)")
            return
        }
        #expect(node == NodeName("node1"))
        // A fresh record: still isolated, fence-confirm refused, nothing fails over.
        manager.storageRead([reading("node1", by: "node2", unchangedFor: 1)], at: at(13))
        let isolatedView = view(["node1": .isolated, "node2": .up], vms: [web1])
        #expect(manager.tick(at: at(13.5), view: isolatedView, memory: .init(), vmsOwnedBy: owned).isEmpty)
        #expect(throws: HARefusal.self) {
            _ = try manager.confirmFenced(NodeName("node1"), state: .isolated, at: at(14))
        }
        // Its record lists web1 stopped at its epoch: web1 alone fails over.
        manager.storageRead([reading("node1", by: "node2", unchangedFor: 1, stopped: [web1])], at: at(15))
        actions = manager.tick(at: at(15.5), view: isolatedView, memory: .init(), vmsOwnedBy: owned)
        guard actions.count == 1, case .failover(let move) = actions[0] else {
            Issue.record("expected one failover, got \(actions)")
            return
        }
        #expect(move.vm == web1.id && move.from == NodeName("node1") && move.target == NodeName("node2"))
        _ = manager.failoverFinished(web1.id, outcome: .committed)
        // A stale record, read after the lease ran out: down, then fenced.
        manager.storageRead([reading("node1", by: "node2", unchangedFor: 10.5)], at: at(20))
        actions = manager.tick(at: at(20.5), view: isolatedView, memory: .init(), vmsOwnedBy: { _ in [] })
        let first = actions.map(\.description).first ?? ""
        #expect(first.hasPrefix("node node1 down: node2 reads its storage heartbeat"), "\(first)")
        #expect(actions.contains { if case .setState(_, .fenced, _) = $0 { true } else { false } })
    }

    @Test func aNodeIsolatedOrDownTooOftenIsQuarantinedWhenItComesBack() {
        var manager = HAManager(
            settings: HASettings(leaseTTL: .seconds(10), quarantineThreshold: 1),
            startedAt: at(0)
        )
        let node1 = NodeName("node1")
        var last = 1.0
        for round in 0..<2 {
            _ = manager.heartbeat(from: node1, state: round == 0 ? .up : .isolated, writesStorage: true, at: at(last))
            _ = manager.tick(at: at(last + 11.5), view: view(["node1": .up]), memory: .init(), vmsOwnedBy: { _ in [] })
            last += 20
        }
        let back = manager.heartbeat(from: node1, state: .isolated, writesStorage: true, at: at(last))
        #expect(back.admission.state == .quarantined)
        #expect(back.actions.first.map { if case .setState(_, .quarantined, _) = $0 { true } else { false } } == true)
    }

    /// One reader's word is not enough: a stale reading is outweighed by another reader's fresh one, and counts only on
    /// a volume both the node and the reader mount.
    @Test func aStaleReadingContradictedByAFreshOneOrOnAnUnmountedVolumeDeclaresNothing() {
        var manager = HAManager(settings: HASettings(leaseTTL: .seconds(10)), startedAt: at(0))
        for node in ["node1", "node2", "node3"] {
            _ = manager.heartbeat(
                from: NodeName(node),
                state: .up,
                writesStorage: true,
                at: at(node == "node1" ? 1 : 11)
            )
        }
        let cluster = view(["node1": .isolated, "node2": .up, "node3": .up])
        manager.storageRead([reading("node1", by: "node2", unchangedFor: 30)], at: at(12))
        manager.storageRead([reading("node1", by: "node3", unchangedFor: 1)], at: at(12))
        #expect(manager.tick(at: at(12.5), view: cluster, memory: .init(), vmsOwnedBy: { _ in [] }).isEmpty)
        var elsewhere = reading("node1", by: "node2", unchangedFor: 30)
        elsewhere.volume = VolumeID("nfs9")
        var other = HAManager(settings: HASettings(leaseTTL: .seconds(10)), startedAt: at(0))
        for node in ["node1", "node2", "node3"] {
            _ = other.heartbeat(from: NodeName(node), state: .up, writesStorage: true, at: at(node == "node1" ? 1 : 11))
        }
        other.storageRead([elsewhere], at: at(12))
        #expect(other.tick(at: at(12.5), view: cluster, memory: .init(), vmsOwnedBy: { _ in [] }).isEmpty)
        // Without the contradiction, on a volume both mount, the same reading is evidence.
        other.storageRead([reading("node1", by: "node2", unchangedFor: 30)], at: at(13))
        let actions = other.tick(at: at(13.5), view: cluster, memory: .init(), vmsOwnedBy: { _ in [] })
        #expect(actions.first.map { if case .setState(_, .down, _) = $0 { true } else { false } } == true)
    }
}
