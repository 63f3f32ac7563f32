import ClusterAPI
import ClusterTestSupport
import Coordinator
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import Testing

/// The `chainkeeper` binary against a live coordinator on loopback: the admin queries of SPEC §7.
@Suite struct CLIAgainstCoordinatorTests {
    /// Runs the CLI against the coordinator on `port` with the admin token.
    static func run(
        _ arguments: [String],
        port: Int?,
        token: String? = LiveCoordinator.adminToken
    ) async throws -> (status: Int32, out: String, err: String) {
        var environment: [String: String] = [:]
        if let port { environment["CHAINKEEPER_URL"] = "http://127.0.0.1:\(port)" }
        if let token { environment["CHAINKEEPER_TOKEN"] = token }
        return try await Daemons.run(Daemons.chainkeeper, arguments, environment: environment)
    }

    @Test func adminQueriesShowTheClusterWithSpecExitCodes() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            let port = try #require(client.port)
            var vms = [LiveCoordinator.vm("web01", node: "node1"), LiveCoordinator.vm("db01", node: "node1", local: 4)]
            vms[0].name = "web01"
            for (node, read) in [
                ("node1", [String]()), ("node2", ["node1", "node2"]), ("node3", ["node1", "node2", "node3"]),
                ("node1", ["node1", "node2", "node3"]), ("node2", ["node1", "node2", "node3"]),
                ("node3", ["node1", "node2", "node3"]),
            ] {
                let response = try await LiveCoordinator.post(
                    LiveCoordinator.report(node, vms: node == "node1" ? vms : [], read: read),
                    as: LiveCoordinator.agentToken(node),
                    client: client
                )
                #expect(response.status == .ok)
            }
            for node in ["node1", "node2", "node3"] {
                let beat = try await client.execute(
                    uri: "/v1/agents/\(node)/heartbeat",
                    method: .post,
                    headers: [.authorization: "Bearer \(LiveCoordinator.agentToken(node))"],
                    body: ByteBuffer(string: #"{"outbox": 0, "admitted": false}"#)
                )
                #expect(beat.status == .ok)
            }

            let audit = try await Self.run(["audit", "--json"], port: port)
            #expect(audit.status == 3, "a critical risk exits 3: \(audit.err)")
            let risks = try JSONDecoder().decode(AuditResponse.self, from: Data(audit.out.utf8)).risks
            #expect(risks.map(\.code) == ["file-on-local-volume"])
            #expect(risks.first?.path == "/srv/local/db01/Snapshots/cp.vmrs")

            let stranded = try await Self.run(["vms", "--stranded"], port: port)
            #expect(stranded.status == 0)
            #expect(stranded.out.contains("db01"))
            #expect(!stranded.out.contains("web01"))
            #expect(stranded.out.hasPrefix("VM    OWNER  STATE    HA   CHECKPOINTS  RISK"))

            let volumes = try JSONDecoder().decode(
                [VolumeJSON].self,
                from: Data(try await Self.run(["volumes", "--json"], port: port).out.utf8)
            )
            #expect(volumes.first { $0.name == "csv1" }?.reachableFrom == ["node1", "node2", "node3"])

            let nodes = try JSONDecoder().decode(
                [NodeJSON].self,
                from: Data(try await Self.run(["nodes", "--json"], port: port).out.utf8)
            )
            #expect(nodes.map(\.name) == ["node1", "node2", "node3"])
            #expect(nodes.first?.vmCount == 2)
            // The lease is counted from each node's heartbeat, on the coordinator's monotonic clock.
            #expect(nodes.allSatisfy { $0.state == "up" && ($0.leaseExpiresIn ?? 0) > 5 })

            let show = try await Self.run(["vm", "show", "db01", "--json"], port: port)
            #expect(show.status == 0)
            let detail = try JSONDecoder().decode(VMDetailJSON.self, from: Data(show.out.utf8))
            #expect(detail.owner == "node1")
            #expect(detail.epoch == 1)
            #expect(detail.snapshots.map(\.name) == ["before-upgrade"])
            #expect(detail.files.first { $0.kind == "memory" }?.volume == "node1-local")
            #expect(detail.files.first { $0.kind == "configuration" }?.volume == "csv1")
            let configuration = try #require(detail.files.first { $0.kind == "configuration" })
            #expect(detail.reachableFrom(configuration) == ["node1", "node2", "node3"])
            let text = try await Self.run(["vm", "show", "db01"], port: port)
            #expect(text.out.contains("before-upgrade"))
            #expect(
                text.out.contains(
                    "/mnt/csv1/db01/disk_b.avhdx → /mnt/csv1/db01/disk_a.avhdx → /mnt/csv1/db01/disk.vhdx"
                )
            )

            let missing = try await Self.run(["vm", "show", "nope"], port: port)
            #expect(missing.status == 4)
            #expect(missing.err.contains("no VM is named or identified 'nope'"))

            // Node and VM actions: "no" exits 3, an unknown name 4 (SPEC §7).
            let alive = try await Self.run(["node", "fence-confirm", "node2"], port: port)
            #expect(alive.status == 3, "\(alive.err)")
            #expect(alive.err.contains("node2 holds a lease"))
            #expect(try await Self.run(["node", "fence-confirm", "node9"], port: port).status == 4)
            let notDraining = try await Self.run(["node", "resume", "node2"], port: port)
            #expect(notDraining.status == 3)
            #expect(notDraining.err.contains("not draining"))
            let owner = try await Self.run(["node", "remove", "node1"], port: port)
            #expect(owner.status == 3)
            #expect(owner.err.contains("holds a lease"))
            #expect(try await Self.run(["node", "remove", "node9"], port: port).status == 4)
            let cleared = try await Self.run(["vm", "clear", "db01"], port: port)
            #expect(cleared.status == 0, "\(cleared.err)")
            #expect(cleared.out.contains("db01: cleared. db01 was not failover-blocked"))
            #expect(try await Self.run(["vm", "clear", "nope"], port: port).status == 4)
        }
    }

    @Test(arguments: [#"web'); DROP TABLE vm;--"#, "a/b c?d#e", "ünï ✓"])
    func vmShowFindsHostileNamesAsData(name: String) async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            let port = try #require(client.port)
            var vm = LiveCoordinator.vm("x", node: "node1")
            vm.name = name
            _ = try await LiveCoordinator.post(
                LiveCoordinator.report("node1", vms: [vm], read: []),
                as: LiveCoordinator.agentToken("node1"),
                client: client
            )
            let show = try await Self.run(["vm", "show", name, "--json"], port: port)
            #expect(show.status == 0, "\(show.err)")
            #expect((try? JSONDecoder().decode(VMDetailJSON.self, from: Data(show.out.utf8)))?.name == name)
        }
    }

    @Test func refusedAndUnreachableCoordinatorsAreClearFailures() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            let port = try #require(client.port)
            let refused = try await Self.run(["audit"], port: port, token: "wrong")
            #expect(refused.status == 1)
            #expect(refused.err.contains("the bearer token is not valid"))
        }
        let unreachable = try await Self.run(["nodes", "--coordinator", "http://127.0.0.1:9"], port: nil)
        #expect(unreachable.status == 1)
        #expect(unreachable.err.contains("cannot reach the coordinator at http://127.0.0.1:9"))
    }
}
