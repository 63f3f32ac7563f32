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

/// The coordinator's side of isolation over live HTTP (SPEC §6): `policy set --isolation`, the `stop` VMs told to their
/// owner's agent only when its copy differs, and `volume-lost` from what heartbeats say after `storageLossTimeout`.
@Suite struct IsolationCoordinatorTests {
    @Test func stopVMsReachTheirOwnerOnlyWhenChangedAndLostVolumesBecomeCritical() async throws {
        let live = try LiveCoordinator { config in
            config.storageLossTimeout = .seconds(1)
            config.isolationTimeout = .seconds(7)
        }
        let coordinator = live.coordinator
        let logger = Logger(label: "test")
        try await live.test { client in
            let port = try #require(client.port)
            func beat(_ node: String, _ heartbeat: Heartbeat) async throws -> HeartbeatAnswer {
                let answer = try await client.execute(
                    uri: "/v1/agents/\(node)/heartbeat",
                    method: .post,
                    headers: [.authorization: "Bearer \(LiveCoordinator.agentToken(node))"],
                    body: ByteBuffer(bytes: try JSONEncoder().encode(heartbeat))
                )
                #expect(answer.status == .ok)
                return try JSONDecoder().decode(HeartbeatAnswer.self, from: Data(buffer: answer.body))
            }
            for (node, read) in [("node1", ["node1", "node2"]), ("node2", ["node1", "node2"])] {
                let vms = node == "node1" ? [LiveCoordinator.vm("web01", node: "node1")] : []
                let posted = try await LiveCoordinator.post(
                    LiveCoordinator.report(node, vms: vms, read: read),
                    as: LiveCoordinator.agentToken(node),
                    client: client
                )
                #expect(posted.status == .ok)
            }
            func cli(_ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
                try await CLIAgainstCoordinatorTests.run(arguments, port: port)
            }

            // The policy: keep-running by default, stop when set, a bad value refused with exit 1.
            let shown = try await cli(["policy", "show", "web01", "--json"])
            #expect(try JSONDecoder().decode(PolicyJSON.self, from: Data(shown.out.utf8)).isolation == "keep-running")
            let human = try await cli(["policy", "show", "web01"])
            #expect(human.out.contains("when isolated") && human.out.contains("keep-running"))
            let bad = try await cli(["policy", "set", "web01", "--isolation", "sometimes"])
            #expect(bad.status == 1 && bad.err.contains("isolation must be keep-running or stop"), "\(bad.err)")

            // Before a round has read the list, an answer carries none (the agent keeps what it has).
            var answer = try await beat("node1", Heartbeat(outbox: 0))
            #expect(answer.isolationStop == nil)
            #expect(answer.isolationTimeoutMilliseconds == 7_000)
            await coordinator.failoverTick(logger: logger)
            answer = try await beat("node1", Heartbeat(outbox: 0))
            #expect(answer.isolationStop == [])
            // node1 and node2 share csv1: each reads the other's storage heartbeat (a ring of two).
            #expect(answer.readPeers == ["node2"] && answer.sharedVolumes == [LiveCoordinator.csv1])
            let emptyDigest = try #require(answer.isolationStopDigest)

            let set = try await cli(["policy", "set", "web01", "--isolation", "stop", "--json"])
            #expect(set.status == 0, "\(set.err)")
            #expect(try JSONDecoder().decode(PolicyJSON.self, from: Data(set.out.utf8)).isolation == "stop")
            await coordinator.failoverTick(logger: logger)
            var beat1 = Heartbeat(outbox: 0)
            beat1.isolationStopDigest = emptyDigest
            answer = try await beat("node1", beat1)
            #expect(answer.isolationStop == ["web01-id"])
            let digest = try #require(answer.isolationStopDigest)
            #expect(digest != emptyDigest)
            // Sent once: an agent holding the current list hears nothing more; node2 owns no stop VM.
            beat1.isolationStopDigest = digest
            #expect(try await beat("node1", beat1).isolationStop == nil)
            #expect(try await beat("node2", Heartbeat(outbox: 0)).isolationStop == [])

            // node1 cannot write its storage heartbeat to csv1 for 1.5 s while it renews its lease: volume-lost,
            // critical, for its VM with files there; no fence (it stays up).
            var lost = Heartbeat(outbox: 0)
            lost.storage = StorageHeartbeatReport(
                writes: false,
                readings: [],
                lost: [LostVolumeJSON(volume: LiveCoordinator.csv1, forMilliseconds: 500)]
            )
            _ = try await beat("node1", lost)
            var audit = try JSONDecoder().decode(
                AuditResponse.self,
                from: Data(buffer: try await LiveCoordinator.get("/v1/audit", client: client).body)
            )
            #expect(!audit.risks.contains { $0.code == "volume-lost" }, "not before storageLossTimeout")
            try await Task.sleep(for: .seconds(1))
            _ = try await beat("node1", lost)
            audit = try JSONDecoder().decode(
                AuditResponse.self,
                from: Data(buffer: try await LiveCoordinator.get("/v1/audit", client: client).body)
            )
            let risk = try #require(audit.risks.first { $0.code == "volume-lost" })
            #expect(risk.severity == "critical" && risk.vm == "web01" && risk.node == "node1")
            #expect(risk.message.contains("it is not fenced"), "\(risk.message)")
            let stranded = try await cli(["vms", "--stranded", "--json"])
            #expect(stranded.out.contains("web01"))
            #expect(try coordinator.store.node(named: NodeName("node1"))?.state == .up)
            // A heartbeat whose writes reach every volume again clears it.
            _ = try await beat(
                "node1",
                Heartbeat(outbox: 0, storage: StorageHeartbeatReport(writes: true, readings: []))
            )
            audit = try JSONDecoder().decode(
                AuditResponse.self,
                from: Data(buffer: try await LiveCoordinator.get("/v1/audit", client: client).body)
            )
            #expect(!audit.risks.contains { $0.code == "volume-lost" })
        }
    }
}
