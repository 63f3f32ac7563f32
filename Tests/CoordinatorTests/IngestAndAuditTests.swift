import ClusterAPI
import Coordinator
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import Testing

@Suite struct IngestAndAuditTests {
    /// The cluster-core scenario over HTTP: web01 on csv1; db01's checkpoint memory file on node1's
    /// local volume; app01's middle AVHDX on node2's local volume; old01's base missing.
    @Test func auditReportsExactlyTheThreeRiskyVMs() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            let vms = [
                "node1": [
                    LiveCoordinator.vm("web01", node: "node1"), LiveCoordinator.vm("db01", node: "node1", local: 4),
                ],
                "node2": [LiveCoordinator.vm("app01", node: "node2", local: 2)],
                "node3": [LiveCoordinator.vm("old01", node: "node3", missing: 3)],
            ]
            // Probe round: node1 writes first, node2 and node3 read what came before, node1 and
            // every node reports again and reads everyone's nonce (its own included).
            let rounds: [(String, [String])] = [
                ("node1", []), ("node2", ["node1", "node2"]), ("node3", ["node1", "node2", "node3"]),
                ("node1", ["node1", "node2", "node3"]), ("node2", ["node1", "node2", "node3"]),
                ("node3", ["node1", "node2", "node3"]),
            ]
            for (node, read) in rounds {
                let response = try await LiveCoordinator.post(
                    LiveCoordinator.report(node, vms: vms[node] ?? [], read: read),
                    as: LiveCoordinator.agentToken(node),
                    client: client
                )
                #expect(response.status == .ok, "\(String(buffer: response.body))")
            }
            let audit =
                try LiveCoordinator.json(try await LiveCoordinator.get("/v1/audit", client: client)) as? [String: Any]
            let risks = try #require(audit?["risks"] as? [[String: Any]])
            let critical = risks.filter { $0["severity"] as? String == "critical" }
                .map { "\($0["code"] ?? "") \($0["vm"] ?? "") \($0["path"] ?? "")" }
            #expect(
                critical == [
                    "file-on-local-volume app01 /srv/local/app01/disk_a.avhdx",
                    "file-on-local-volume db01 /srv/local/db01/Snapshots/cp.vmrs",
                    "file-missing old01 /mnt/csv1/old01/disk.vhdx",
                ]
            )
            #expect(risks.filter { $0["severity"] as? String == "warning" }.isEmpty, "\(risks)")

            let stranded =
                try LiveCoordinator.json(try await LiveCoordinator.get("/v1/vms?stranded=true", client: client))
                as? [[String: Any]]
            #expect(stranded?.map { $0["name"] as? String } == ["app01", "db01", "old01"])
            #expect(stranded?.allSatisfy { $0["stranded"] as? Bool == true && $0["owner"] is String } == true)

            let volumes = try #require(
                try LiveCoordinator.json(try await LiveCoordinator.get("/v1/volumes", client: client))
                    as? [[String: Any]]
            )
            let csv1 = try #require(volumes.first { $0["name"] as? String == "csv1" })
            #expect(csv1["reachableFrom"] as? [String] == ["node1", "node2", "node3"])
            #expect(csv1["kind"] as? String == "shared")
            for node in LiveCoordinator.nodes {
                let local = try #require(volumes.first { $0["name"] as? String == "\(node)-local" })
                #expect(local["reachableFrom"] as? [String] == [node])
                #expect(local["kind"] as? String == "local")
            }
        }
    }

    @Test func anUnreadableEntryIsAnInventoryErrorAndTheRestArrives() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            var broken = LiveCoordinator.vm("bad01", node: "node1")
            broken.state = "Exploded"
            var dangling = LiveCoordinator.vm("chain01", node: "node1")
            dangling.chains = [ReportedChain(files: [1, 99])]
            let report = LiveCoordinator.report(
                "node1",
                vms: [broken, LiveCoordinator.vm("web01", node: "node1"), dangling],
                read: []
            )
            let response = try await LiveCoordinator.post(
                report,
                as: LiveCoordinator.agentToken("node1"),
                client: client
            )
            #expect(response.status == .ok)
            let outcome = try JSONDecoder().decode(ReportAnswer.self, from: Data(buffer: response.body))
            #expect(outcome.registered == 1)
            #expect(outcome.errors == 2)
            #expect(outcome.settings.leaseTTLMilliseconds == 10_000, "the report's answer announces the lease")
            let vms =
                try LiveCoordinator.json(try await LiveCoordinator.get("/v1/vms", client: client)) as? [[String: Any]]
            #expect(vms?.map { $0["name"] as? String } == ["web01"])
            let risks =
                (try LiveCoordinator.json(try await LiveCoordinator.get("/v1/audit", client: client)) as? [String: Any])?[
                    "risks"
                ] as? [[String: Any]] ?? []
            let errors = risks.filter { $0["code"] as? String == "inventory-error" }
            #expect(errors.map { $0["vm"] as? String } == ["bad01", "chain01"])
            #expect((errors.first?["message"] as? String)?.contains("Exploded") == true)
        }
    }

    @Test func anotherNodeListingAKnownVMDoesNotMoveIt() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            let web = LiveCoordinator.vm("web01", node: "node1")
            _ = try await LiveCoordinator.post(
                LiveCoordinator.report("node1", vms: [web], read: []),
                as: LiveCoordinator.agentToken("node1"),
                client: client
            )
            let response = try await LiveCoordinator.post(
                LiveCoordinator.report("node2", vms: [LiveCoordinator.vm("web01", node: "node2")], read: []),
                as: LiveCoordinator.agentToken("node2"),
                client: client
            )
            #expect(try JSONDecoder().decode(ReportAnswer.self, from: Data(buffer: response.body)).listedOnly == 1)
            let vms =
                try LiveCoordinator.json(try await LiveCoordinator.get("/v1/vms", client: client)) as? [[String: Any]]
            #expect(vms?.first?["owner"] as? String == "node1")
            #expect(vms?.first?["epoch"] as? Int == 1)
            #expect((vms?.first?["risks"] as? [String])?.contains("registered-on-non-owner") == true)
        }
    }
}
