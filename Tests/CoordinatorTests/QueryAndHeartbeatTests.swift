import ClusterAPI
import Coordinator
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import Testing

@Suite struct QueryAndHeartbeatTests {
    static func query(_ sql: String, token: String?, client: some TestClientProtocol) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(
            uri: "/v1/query",
            method: .post,
            headers: headers,
            body: ByteBuffer(bytes: try JSONEncoder().encode(QueryRequest(sql: sql)))
        )
    }

    @Test func queryIsAdminOnlyReadOnlyAndKeepsHostileNamesAsData() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            var vm = LiveCoordinator.vm("x", node: "node1")
            vm.name = #"q'"; DROP TABLE vm;--/..\x"#
            let report = LiveCoordinator.report("node1", vms: [vm], read: [])
            #expect(
                try await LiveCoordinator.post(report, as: LiveCoordinator.agentToken("node1"), client: client).status
                    == .ok
            )

            let ok = try await Self.query("SELECT name FROM vms", token: LiveCoordinator.adminToken, client: client)
            #expect(ok.status == .ok)
            let rows = try JSONDecoder().decode(QueryResponse.self, from: Data(buffer: ok.body))
            #expect(rows.rows == [[.text(vm.name)]])

            for sql in ["DELETE FROM vm", "ATTACH DATABASE ':memory:' AS x", "PRAGMA user_version = 3"] {
                let refused = try await Self.query(sql, token: LiveCoordinator.adminToken, client: client)
                #expect(refused.status == .badRequest)
                let body = try LiveCoordinator.json(refused) as? [String: [String: String]]
                #expect(body?["error"]?["code"] == "query-refused")
            }
            #expect(
                try await Self.query("SELECT 1", token: LiveCoordinator.agentToken("node1"), client: client).status
                    == .forbidden
            )
            #expect(try await Self.query("SELECT 1", token: nil, client: client).status == .unauthorized)
            let garbage = try await client.execute(
                uri: "/v1/query",
                method: .post,
                headers: [.authorization: "Bearer \(LiveCoordinator.adminToken)"],
                body: ByteBuffer(string: "{not json")
            )
            #expect(garbage.status == .badRequest)
            let still = try await Self.query(
                "SELECT count(*) FROM vms",
                token: LiveCoordinator.adminToken,
                client: client
            )
            #expect(
                try JSONDecoder().decode(QueryResponse.self, from: Data(buffer: still.body)).rows == [[.integer(1)]]
            )
        }
    }

    @Test func heartbeatsAreRecordedOnlyForTheTokensOwnNode() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            func beat(_ node: String, token: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/v1/agents/\(node)/heartbeat",
                    method: .post,
                    headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                    body: ByteBuffer(bytes: try JSONEncoder().encode(Heartbeat(outbox: 0)))
                )
            }
            let sent = ContinuousClock.now
            let answer = try await beat("node2", token: LiveCoordinator.agentToken("node2"))
            #expect(answer.status == .ok)
            let settings = try JSONDecoder().decode(CoordinatorAnnouncement.self, from: Data(buffer: answer.body))
            #expect(settings.leaseTTLMilliseconds == 10_000)
            // A node the cluster has just met is admitted; an agent asking for readmission hears what it owns.
            let admission = try JSONDecoder().decode(HeartbeatAnswer.self, from: Data(buffer: answer.body))
            #expect(admission.admitted && admission.state == "up")
            #expect(admission.owned == nil, "owned VMs are listed only when asked for")
            let asking = try await client.execute(
                uri: "/v1/agents/node2/heartbeat",
                method: .post,
                headers: [.authorization: "Bearer \(LiveCoordinator.agentToken("node2"))"],
                body: ByteBuffer(bytes: try JSONEncoder().encode(Heartbeat(outbox: 0, admitted: false)))
            )
            let readmitted = try JSONDecoder().decode(HeartbeatAnswer.self, from: Data(buffer: asking.body))
            #expect(readmitted.admitted)
            #expect(readmitted.owned == [])
            #expect(settings.probeIntervalMilliseconds == 300_000)
            #expect(try await beat("node2", token: LiveCoordinator.agentToken("node1")).status == .forbidden)
            #expect(try await beat("node2", token: LiveCoordinator.adminToken).status == .forbidden)

            let nodes = try JSONDecoder().decode(
                [NodeJSON].self,
                from: Data(buffer: try await LiveCoordinator.get("/v1/nodes", client: client).body)
            )
            #expect(nodes.map(\.name) == ["node2"])
            // The lease counts from the heartbeat: at most the whole TTL left, less whatever time has passed since.
            let elapsed = Double((ContinuousClock.now - sent).components.seconds) + 1
            let left = try #require(nodes.first?.leaseExpiresIn)
            #expect(left <= 10 && left >= 10 - elapsed, "lease left \(left) s, \(elapsed) s after the heartbeat")
        }
    }
}
