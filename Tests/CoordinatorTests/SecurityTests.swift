import ClusterAPI
import Coordinator
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import Testing

@Suite struct SecurityTests {
    @Test func missingOrWrongTokenIs401WithTheErrorShape() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            for token in [nil, "wrong-token", ""] as [String?] {
                let response = try await LiveCoordinator.get("/v1/audit", token: token, client: client)
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
                let body = try LiveCoordinator.json(response) as? [String: [String: String]]
                #expect(body?["error"]?["code"] == "unauthorized")
                #expect(body?["error"]?["message"]?.isEmpty == false)
            }
            #expect(try await LiveCoordinator.get("/healthz", token: nil, client: client).status == .ok)
        }
    }

    @Test func agentTokensActOnlyForTheirOwnNodeAndNeverAsAdmin() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            let report = LiveCoordinator.report("node2", vms: [], read: [])
            // node1's token posting to node2's route, and to its own route with node2's report.
            #expect(
                try await LiveCoordinator.post(report, as: LiveCoordinator.agentToken("node1"), client: client).status
                    == .forbidden
            )
            let mismatch = try await LiveCoordinator.post(
                report,
                as: LiveCoordinator.agentToken("node1"),
                to: "node1",
                client: client
            )
            #expect(mismatch.status == .forbidden)
            #expect(
                (try LiveCoordinator.json(mismatch) as? [String: [String: String]])?["error"]?["code"] == "forbidden"
            )
            #expect(
                try await LiveCoordinator.get("/v1/audit", token: LiveCoordinator.agentToken("node1"), client: client)
                    .status == .forbidden
            )
            #expect(
                try await LiveCoordinator.post(report, as: LiveCoordinator.adminToken, client: client).status
                    == .forbidden
            )
            let nodes = try LiveCoordinator.json(try await LiveCoordinator.get("/v1/vms", client: client)) as? [Any]
            #expect(nodes?.isEmpty == true, "nothing was stored by refused requests")
        }
    }

    @Test func oversizedBodyIs413AndBadJSONIs400() async throws {
        let live = try LiveCoordinator(maxBodyBytes: 64 * 1024)
        try await live.test { client in
            let vms = (0..<200).map { LiveCoordinator.vm("vm\($0)", node: "node1") }
            let big = try await LiveCoordinator.post(
                LiveCoordinator.report("node1", vms: vms, read: []),
                as: LiveCoordinator.agentToken("node1"),
                client: client
            )
            #expect(big.status == .contentTooLarge)
            #expect((try LiveCoordinator.json(big) as? [String: [String: String]])?["error"]?["code"] == "too-large")
            let bad = try await client.execute(
                uri: "/v1/agents/node1/report",
                method: .post,
                headers: [.authorization: "Bearer \(LiveCoordinator.agentToken("node1"))"],
                body: ByteBuffer(string: "{\"node\": \"node1\", \"driver\": ")
            )
            #expect(bad.status == .badRequest)
            #expect((try LiveCoordinator.json(bad) as? [String: [String: String]])?["error"]?["code"] == "bad-request")
        }
    }

    /// Every route that reads a body answers an oversized one with 413 and the error shape, never a bare failure.
    @Test(arguments: [
        ("/v1/vms/web01/migrate", "POST", LiveCoordinator.adminToken),
        ("/v1/vms/web01/policy", "PUT", LiveCoordinator.adminToken),
        ("/v1/classes/web", "PUT", LiveCoordinator.adminToken),
        ("/v1/query", "POST", LiveCoordinator.adminToken),
        ("/v1/agents/node1/commands/some-id", "POST", LiveCoordinator.agentToken("node1")),
    ])
    func oversizedBodiesOnEveryRouteAre413(route: String, method: String, token: String) async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            _ = try await LiveCoordinator.post(
                LiveCoordinator.report("node1", vms: [LiveCoordinator.vm("web01", node: "node1")], read: []),
                as: LiveCoordinator.agentToken("node1"),
                client: client
            )
            let response = try await client.execute(
                uri: route,
                method: method == "PUT" ? .put : .post,
                headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                body: ByteBuffer(string: "\"" + String(repeating: "x", count: 1536 * 1024) + "\"")
            )
            #expect(response.status == .contentTooLarge, "\(route)")
            #expect(
                (try LiveCoordinator.json(response) as? [String: [String: String]])?["error"]?["code"] == "too-large"
            )
        }
    }

    @Test(arguments: [
        #"web'); DROP TABLE vm;--"#, #"a "quoted" name"#, "../../etc/passwd", "<script>alert(1)</script>",
    ])
    func hostileVMNamesRoundTripAsData(name: String) async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            var vm = LiveCoordinator.vm("x", node: "node1")
            vm.name = name
            vm.id = "id-\(name)"
            let response = try await LiveCoordinator.post(
                LiveCoordinator.report("node1", vms: [vm], read: []),
                as: LiveCoordinator.agentToken("node1"),
                client: client
            )
            #expect(response.status == .ok)
            let vms =
                try LiveCoordinator.json(try await LiveCoordinator.get("/v1/vms", client: client)) as? [[String: Any]]
            #expect(vms?.map { $0["name"] as? String } == [name])
            #expect(vms?.first?["id"] as? String == "id-\(name)")
        }
    }

    @Test func metricsCountReports() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            _ = try await LiveCoordinator.post(
                LiveCoordinator.report("node1", vms: [], read: []),
                as: LiveCoordinator.agentToken("node1"),
                client: client
            )
            let metrics = try await LiveCoordinator.get("/metrics", token: nil, client: client)
            #expect(metrics.status == .ok)
            let text = String(buffer: metrics.body)
            #expect(text.contains("chainkeeper_reports_total 1"))
            // Where the report's time went, one observation per phase.
            for phase in ["body", "decode", "validate", "model", "store"] {
                #expect(text.contains("chainkeeper_report_phase_seconds_count{phase=\"\(phase)\"} 1"), "\(phase)")
            }
        }
    }
}
