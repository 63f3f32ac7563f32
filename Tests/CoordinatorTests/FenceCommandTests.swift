import ChainModel
import ClusterAPI
import ClusterStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOFoundationCompat
import Testing

@testable import Coordinator

/// The coordinator's side of failover over live HTTP, rounds driven by hand: the start-up wait, a node declared down
/// when its lease runs out, the `fence` command (a real `/bin/sh` command) failing and then succeeding, and only then
/// a failover journaled; with no agent to answer its preflight the VM ends `failover-blocked`.
@Suite struct FenceCommandTests {
    @Test func nothingFailsOverUntilTheFenceCommandSucceeds() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ck-fence-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try "1".write(toFile: scratch + "/status", atomically: true, encoding: .utf8)
        let live = try LiveCoordinator { config in
            // Three seconds: with one, then two, a pause of a loaded machine between a heartbeat and a round (the
            // whole suite on two cores, 2.7 s once) lapsed a lease the test had just renewed.
            config.leaseTTL = .seconds(3)
            config.commandTimeout = .milliseconds(300)
            config.fenceCommand = #"echo "$CHAINKEEPER_NODE" >> \#(scratch)/fenced; exit $(cat \#(scratch)/status)"#
            config.fenceTimeout = .seconds(5)
        }
        let coordinator = live.coordinator
        let logger = Logger(label: "test")
        try await live.test { client in
            func beat(_ node: String) async throws {
                let answer = try await client.execute(
                    uri: "/v1/agents/\(node)/heartbeat",
                    method: .post,
                    headers: [.authorization: "Bearer \(LiveCoordinator.agentToken(node))"],
                    body: ByteBuffer(string: "{}")
                )
                #expect(answer.status == .ok)
            }
            func state(_ node: String) throws -> NodeState? { try coordinator.store.node(named: NodeName(node))?.state }
            for (node, read) in [("node1", ["node1", "node2"]), ("node2", ["node1", "node2"])] {
                let vms = node == "node1" ? [LiveCoordinator.vm("web01", node: "node1")] : []
                let posted = try await LiveCoordinator.post(
                    LiveCoordinator.report(node, vms: vms, read: read),
                    as: LiveCoordinator.agentToken(node),
                    client: client
                )
                #expect(posted.status == .ok)
            }
            try await beat("node1")
            try await beat("node2")
            // Within the first lease after start nothing is declared down, whatever the heartbeats say.
            await coordinator.failoverTick(logger: logger)
            #expect(try state("node1") == .up)

            // node1 goes silent; node2 keeps beating.
            for _ in 0..<15 {
                try await Task.sleep(for: .milliseconds(250))
                try await beat("node2")
            }
            await coordinator.failoverTick(logger: logger)
            #expect(try state("node1") == .down)
            #expect(try state("node2") == .up)
            // The fence command runs (and fails): node1 stays down, nothing is journaled.
            try await Self.waitFor { (try? String(contentsOfFile: scratch + "/fenced", encoding: .utf8)) == "node1\n" }
            try await Task.sleep(for: .milliseconds(200))
            await coordinator.failoverTick(logger: logger)
            #expect(try state("node1") == .down)
            #expect(try coordinator.store.history().isEmpty)

            // The fence device is fixed; the retry (one lease later) succeeds and node1 is fenced.
            try "0".write(toFile: scratch + "/status", atomically: true, encoding: .utf8)
            try await Task.sleep(for: .milliseconds(3100))
            try await beat("node2")
            await coordinator.failoverTick(logger: logger)
            try await Self.waitFor { (try? state("node1")) == .fenced }
            #expect(try String(contentsOfFile: scratch + "/fenced", encoding: .utf8) == "node1\nnode1\n")

            // Now the failover: journaled by `failover`; node2's agent never answers the preflight, so web01 is held.
            try await beat("node2")
            await coordinator.failoverTick(logger: logger)
            // The preflight goes unanswered (no agent polls), so the manager tries the next target at a later round;
            // there is none, and web01 is held.
            for _ in 0..<40 {
                let blocked = try coordinator.store.failoverRecord(since: .init(millisecondsSinceEpoch: 0)).blocked
                if !blocked.isEmpty { break }
                try await Task.sleep(for: .milliseconds(100))
                try await beat("node2")
                await coordinator.failoverTick(logger: logger)
            }
            let history = try coordinator.store.history()
            #expect(history.first?.kind == .failover)
            #expect(history.first?.requestedBy == "failover")
            #expect(history.first?.state == .aborted)
            let audit = try await LiveCoordinator.get("/v1/audit", client: client)
            let risks = try JSONDecoder().decode(AuditResponse.self, from: Data(buffer: audit.body)).risks
            let blocked = try #require(risks.first { $0.code == "failover-blocked" })
            #expect(blocked.vm == "web01")
            #expect(blocked.message.contains("preflight-failed"))

            // A heartbeat from node1 now readmits it, and it is told it still owns web01.
            let back = try await client.execute(
                uri: "/v1/agents/node1/heartbeat",
                method: .post,
                headers: [.authorization: "Bearer \(LiveCoordinator.agentToken("node1"))"],
                body: ByteBuffer(bytes: try JSONEncoder().encode(Heartbeat(outbox: 0, admitted: false)))
            )
            let answer = try JSONDecoder().decode(HeartbeatAnswer.self, from: Data(buffer: back.body))
            #expect(answer.admitted)
            #expect(answer.owned?.map(\.vmId) == ["web01-id"])
            #expect(try state("node1") == .up)
        }
    }

    static func waitFor(_ condition: () -> Bool) async throws {
        for _ in 0..<100 where !condition() { try await Task.sleep(for: .milliseconds(50)) }
        #expect(condition())
    }
}
