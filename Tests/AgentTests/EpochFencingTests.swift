import AgentService
import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation
import Logging
import Synchronization
import Testing

@testable import AgentService

/// Agents persist the highest epoch seen per VM and refuse any command with a lower one (SPEC §6).
@Suite struct EpochFencingTests {
    @Test func aStaleCommandIsRefusedAndLoggedAndChangesNothing() async throws {
        let scratch = try Scratch()
        let volume = try scratch.directory("csv")
        let inventory = try scratch.file("inventory.json", #"{"version": 1, "vms": []}"#)
        var config = AgentConfig(
            node: "node2",
            coordinators: ["http://127.0.0.1:9"],
            dataDir: scratch.path + "/agent",
            volumes: [volume],
            inventoryPath: inventory
        )
        config.hooks = ["adopt": "echo adopted >> \(scratch.path)/adopt.log"]
        let agent = try AgentService(config: config, logger: Logger(label: "test"))
        func adopt(epoch: Int64) -> AgentCommand {
            AgentCommand(
                id: UUID().uuidString,
                kind: .adopt,
                migrationId: "m-\(epoch)",
                vmId: "vm-1",
                vmName: "web01",
                epoch: epoch,
                source: "node1",
                target: "node2",
                definition: VMDefinition(
                    id: "vm-1",
                    name: "web01",
                    state: "Off",
                    highlyAvailable: true,
                    memoryMiB: 1,
                    configurationPath: nil,
                    runtimeStatePath: nil,
                    guestStatePath: nil,
                    disks: [],
                    snapshots: []
                )
            )
        }
        // An agent the coordinator has not admitted acts on nothing (SPEC §6).
        let early = await agent.execute(adopt(epoch: 3))
        #expect(!early.ok)
        #expect(early.reasons.first?.code == "not-admitted")
        #expect(try agent.database.epoch(of: "vm-1") == nil)
        agent.lease.withLock { $0.renewed(sentAt: AgentService.monotonicNow()) }
        #expect(await agent.execute(adopt(epoch: 3)).ok)
        #expect(try agent.database.epoch(of: "vm-1") == 3)
        // Replayed: the same epoch again is accepted (hooks are idempotent); an older one is refused.
        #expect(await agent.execute(adopt(epoch: 3)).ok)
        let stale = await agent.execute(adopt(epoch: 2))
        #expect(!stale.ok)
        #expect(stale.reasons.first?.code == "stale-epoch")
        #expect(try agent.database.epoch(of: "vm-1") == 3)
        let hookRuns = try String(contentsOfFile: scratch.path + "/adopt.log", encoding: .utf8)
        #expect(hookRuns == "adopted\nadopted\n", "the stale command never reached the hook")
        #expect(try agent.database.handOffs().adopted.count == 1)

        // The agent restarts (a new process would open the same database): the stale command is still refused, and
        // the refusal is logged.
        let messages = CapturedLog()
        let restarted = try AgentService(
            config: config,
            logger: Logger(label: "restarted") { _ in CapturingHandler(log: messages) }
        )
        restarted.lease.withLock { $0.renewed(sentAt: AgentService.monotonicNow()) }
        let replayed = await restarted.execute(adopt(epoch: 2))
        #expect(!replayed.ok)
        #expect(replayed.reasons.first?.code == "stale-epoch")
        #expect(messages.lines.contains { $0.contains("refused a stale adopt") && $0.contains("epoch 3") })
        #expect(try String(contentsOfFile: scratch.path + "/adopt.log", encoding: .utf8) == "adopted\nadopted\n")
    }
}

/// Log lines kept for a test to read.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var lines: [String] { lock.withLock { stored } }
    func append(_ line: String) { lock.withLock { stored.append(line) } }
}

struct CapturingHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        log.append("\(event.level) \(event.message)")
    }
}
