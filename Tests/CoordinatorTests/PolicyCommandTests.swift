import ClusterAPI
import Coordinator
import Foundation
import HummingbirdTesting
import Testing

/// `chainkeeper policy set | show | class` against a live coordinator, and the policy changing `check`'s verdict.
@Suite struct PolicyCommandTests {
    @Test func policiesRoundTripValidateAndChangeTheVerdict() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            let port = try #require(client.port)
            for (node, read) in [
                ("node1", [String]()), ("node2", ["node1", "node2"]), ("node3", ["node1", "node2", "node3"]),
                ("node1", ["node1", "node2", "node3"]), ("node2", ["node1", "node2", "node3"]),
                ("node3", ["node1", "node2", "node3"]),
            ] {
                let vms = node == "node1" ? [LiveCoordinator.vm("web01", node: "node1")] : []
                _ = try await LiveCoordinator.post(
                    LiveCoordinator.report(node, vms: vms, read: read),
                    as: LiveCoordinator.agentToken(node),
                    client: client
                )
            }
            func run(_ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
                try await CLIAgainstCoordinatorTests.run(arguments, port: port)
            }
            func policy(_ arguments: [String]) async throws -> PolicyJSON {
                let result = try await run(arguments + ["--json"])
                #expect(result.status == 0, "\(arguments): \(result.err)")
                return try JSONDecoder().decode(PolicyJSON.self, from: Data(result.out.utf8))
            }

            let defaults = try await policy(["policy", "show", "web01"])
            #expect(defaults.priority == "medium")
            #expect(defaults.possibleOwners.isEmpty)
            #expect(defaults.maxFailovers == 3 && defaults.failoverPeriod == "6h")
            #expect(defaults.effectiveHighlyAvailable)
            #expect(try await run(["check", "web01", "--to", "node3"]).status == 0)

            let set = try await policy([
                "policy", "set", "web01", "--possible", "node1,node2", "--preferred", "node2", "--priority", "high",
                "--anti-affinity", "web", "--max-failovers", "2", "--failover-period", "1h", "--ha", "false",
            ])
            #expect(set.possibleOwners == ["node1", "node2"])
            #expect(set.preferredOwners == ["node2"])
            #expect(set.priority == "high")
            #expect(set.antiAffinityClass == "web" && set.antiAffinityEnforced == false)
            #expect(set.maxFailovers == 2 && set.failoverPeriod == "1h")
            #expect(set.highlyAvailable == false && !set.effectiveHighlyAvailable)

            // Only the given fields change; the class can be enforced.
            #expect(
                try await policy(["policy", "set", "web01", "--priority", "low"]).possibleOwners == ["node1", "node2"]
            )
            #expect(try await run(["policy", "class", "web", "--enforce", "true"]).status == 0)
            #expect(try await policy(["policy", "show", "web01"]).antiAffinityEnforced == true)

            // The policy changes the verdict at once: node3 is no longer a possible owner.
            let refused = try await run(["check", "web01", "--to", "node3", "--json"])
            #expect(refused.status == 3)
            #expect(
                try JSONDecoder().decode(CheckResponse.self, from: Data(refused.out.utf8)).reasons.map(\.code)
                    == ["target-not-eligible"]
            )

            // Bad input: an unknown node or VM exits 4; a bad value or a preferred owner outside the possible ones, 1.
            #expect(try await run(["policy", "set", "web01", "--possible", "node9"]).status == 4)
            #expect(try await run(["policy", "show", "no-such-vm"]).status == 4)
            let badPriority = try await run(["policy", "set", "web01", "--priority", "urgent"])
            #expect(badPriority.status == 1 && badPriority.err.contains("priority must be"))
            #expect(try await run(["policy", "set", "web01", "--preferred", "node3"]).status == 1)
            #expect(try await run(["policy", "set", "web01", "--failover-period", "soon"]).status == 1)

            let cleared = try await policy(["policy", "set", "web01", "--clear"])
            #expect(cleared.priority == "medium" && cleared.possibleOwners.isEmpty && cleared.antiAffinityClass == nil)
            #expect(try await run(["check", "web01", "--to", "node3"]).status == 0)
        }
    }
}
