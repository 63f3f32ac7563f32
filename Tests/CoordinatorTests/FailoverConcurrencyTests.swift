import ChainModel
import ClusterAPI
import ClusterStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import Coordinator

/// Issue 27: a dead node's VMs fail over `failover.concurrency` at a time, in the plan's order.
///
/// The plan's order is priority, then name. node1 owns seven HA VMs and goes silent; node2's agent is played here on the coordinator's command
/// board (the same actor the HTTP command routes serve), answering every command after 150 ms and noting which VMs
/// are between their first command and their adopt's answer.
@Suite struct FailoverConcurrencyTests {
    static let vms: [(name: String, priority: FailoverPriority)] = [
        ("a-low", .low), ("b-low", .low), ("c-medium", .medium), ("d-high", .high), ("e-high", .high),
        ("f-medium", .medium), ("g-none", .none), ("h-low", .low),
    ]

    @Test(.serialized, arguments: [1, 3])
    func aDeadNodesVMsFailOverAtMostConcurrencyAtATimeInPriorityOrder(concurrency: Int) async throws {
        let live = try LiveCoordinator { config in
            config.leaseTTL = .seconds(1)
            config.commandTimeout = .seconds(10)
            config.failoverConcurrency = concurrency
        }
        defer { try? FileManager.default.removeItem(atPath: live.directory) }
        let coordinator = live.coordinator
        let logger = {
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            return logger
        }()
        let agent = PlayedAgent()
        try await live.test { client in
            let owned = Self.vms.map { LiveCoordinator.vm($0.name, node: "node1") }
            for (node, vms) in [("node1", owned), ("node2", [])] {
                let posted = try await LiveCoordinator.post(
                    LiveCoordinator.report(node, vms: vms, read: ["node1", "node2"]),
                    as: LiveCoordinator.agentToken(node),
                    client: client
                )
                #expect(posted.status == .ok)
            }
            for vm in Self.vms {
                try coordinator.store.savePolicy(PlacementPolicy(priority: vm.priority), for: VMID("\(vm.name)-id"))
            }
            let answering = Task { await agent.answer(coordinator.board) }
            defer { answering.cancel() }
            func beat(_ node: String) async throws {
                _ = try await coordinator.heartbeat(from: NodeName(node), askingReadmission: false, logger: logger)
            }
            try await beat("node1")
            try await beat("node2")
            // node1 goes silent past its lease (and the start-up wait); node2 keeps beating while rounds run.
            let movable = Self.vms.filter { $0.priority != .none }.count
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                try await beat("node2")
                await coordinator.failoverTick(logger: logger)
                let moved = try Self.vms.filter {
                    try coordinator.store.vm(id: VMID("\($0.name)-id"))?.owner == NodeName("node2")
                }
                if moved.count == movable { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try coordinator.store.node(named: NodeName("node1"))?.state == .fenced)
            for vm in Self.vms {
                let owner = try coordinator.store.vm(id: VMID("\(vm.name)-id"))?.owner.rawValue
                #expect(owner == (vm.priority == .none ? "node1" : "node2"), "\(vm.name)")
            }
            let seen = agent.seen()
            // Never more than `concurrency` VMs between their first command and their adopt's answer, and as many as
            // that when enough wait.
            #expect(seen.mostAtOnce == concurrency)
            #expect(await coordinator.failoverQueue.peak == concurrency)
            // Started in plan order (priority, then name): one slot gives exactly that order.
            let planOrder = ["d-high", "e-high", "c-medium", "f-medium", "a-low", "b-low", "h-low"]
            if concurrency == 1 {
                #expect(seen.firstCommands == planOrder)
            }
            #expect(Set(seen.firstCommands) == Set(planOrder))
            let rank = Dictionary(uniqueKeysWithValues: Self.vms.map { ($0.name, $0.priority.rank) })
            for (index, name) in seen.firstCommands.enumerated() {
                // A VM of a lower priority is only started once a slot came free: at most `concurrency - 1` moves of
                // a higher priority may still be running, so none is further than that back in the order.
                let later = seen.firstCommands[(index + 1)...].filter { (rank[$0] ?? 0) < (rank[name] ?? 0) }
                #expect(later.count <= concurrency - 1, "\(name) before \(later)")
            }
        }
    }
}

/// node2's agent: answers every command after 150 ms, noting each VM's first command and its adopt's answer.
final class PlayedAgent: Sendable {
    private struct Seen {
        var firstCommands: [String] = []
        var busy: Set<String> = []
        var mostAtOnce = 0
    }
    private let state = Mutex(Seen())

    func seen() -> (firstCommands: [String], mostAtOnce: Int) {
        state.withLock { ($0.firstCommands, $0.mostAtOnce) }
    }

    func answer(_ board: CommandBoard) async {
        await withTaskGroup(of: Void.self) { group in
            while !Task.isCancelled {
                for command in await board.poll(node: "node2", wait: .milliseconds(200)) {
                    state.withLock {
                        if !$0.firstCommands.contains(command.vmName) { $0.firstCommands.append(command.vmName) }
                        $0.busy.insert(command.vmName)
                        $0.mostAtOnce = max($0.mostAtOnce, $0.busy.count)
                    }
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(150))
                        if command.kind == .adopt { self.state.withLock { _ = $0.busy.remove(command.vmName) } }
                        _ = await board.complete(command.id, from: "node2", with: CommandResult(ok: true))
                    }
                }
            }
        }
    }
}
