import ChainModel
import ClusterAPI
import ClusterTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 22's process test: the coordinator killed with SIGKILL for five leases fences nothing. Every agent keeps
/// writing its storage heartbeat to the shared volume, so it is isolated, not fenced: no fence hook runs, no VM moves,
/// and the restarted coordinator finds every node up and every VM where it was.
extension ClusterEndToEndTests {
    @Test func aCoordinatorKilledForFiveLeasesFencesNothing() async throws {
        let layout = try ClusterLayout()
        defer { layout.remove() }
        for (node, vms) in try layout.buildScenario() { try layout.writeInventory(node, vms) }
        var cluster = try Cluster(layout: layout, leaseTTL: "5s", fenceHooks: true)
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents()
        _ = try #require(try await cluster.waitForAudit { Set($0.risks.compactMap(\.vm)) == Self.risky })

        // Every node writes its record to the shared volume once the coordinator has said it is shared.
        let slots = layout.shared + "/" + StorageHeartbeatRecord.directory
        let expected = Set(["a", "b", "c"].map { StorageHeartbeatRecord.fileName(of: NodeName($0)) })
        for _ in 0..<200 {
            let names = Set((try? FileManager.default.contentsOfDirectory(atPath: slots)) ?? [])
            if expected.isSubset(of: names) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: slots)) ?? [])
        #expect(expected.isSubset(of: names), "storage heartbeat slots: \(names.sorted())")
        let record = FileManager.default.contents(
            atPath: slots + "/" + StorageHeartbeatRecord.fileName(of: NodeName("a"))
        )
        #expect(record.flatMap { StorageHeartbeatRecord.decodeSlot([UInt8]($0)) }?.condition == .running)
        let owners = try await cluster.json(["vms"], as: [VMSummaryJSON].self).map { ($0.name, $0.owner) }

        // Five leases without a coordinator.
        #expect(cluster.coordinator?.stop(SIGKILL) == SIGKILL)
        try await Task.sleep(for: .seconds(25))
        for node in ["a", "b", "c"] {
            #expect(Self.fenceTimes(layout, node).isEmpty, "\(node)'s fence hook ran during the outage")
            let log = try String(contentsOfFile: layout.root + "/agent-\(node).log", encoding: .utf8)
            #expect(log.contains("isolated: the coordinator has not renewed"), "\(node) did not say it is isolated")
            #expect(!log.contains("fencing this node"), "\(node) fenced itself")
            #expect(cluster.agents[node]?.process.isRunning == true)
        }
        let isolated = FileManager.default.contents(
            atPath: slots + "/" + StorageHeartbeatRecord.fileName(of: NodeName("b"))
        )
        #expect(isolated.flatMap { StorageHeartbeatRecord.decodeSlot([UInt8]($0)) }?.condition == .isolated)

        // Restarted: it waits a lease, finds every node up and renews every lease; nothing moved, nothing fenced.
        try await cluster.startCoordinator()
        try await Task.sleep(for: .seconds(12))
        let nodes = try await cluster.json(["nodes"], as: [NodeJSON].self)
        #expect(nodes.map(\.state) == ["up", "up", "up"], "\(nodes.map { ($0.name, $0.state) })")
        let after = try await cluster.json(["vms"], as: [VMSummaryJSON].self).map { ($0.name, $0.owner) }
        #expect(after.map(\.0) == owners.map(\.0) && after.map(\.1) == owners.map(\.1))
        for node in ["a", "b", "c"] {
            #expect(Self.fenceTimes(layout, node).isEmpty, "\(node)'s fence hook ran after the restart")
            let log = try String(contentsOfFile: layout.root + "/agent-\(node).log", encoding: .utf8)
            #expect(log.contains("no longer isolated"), "\(node) did not leave isolation")
        }
        let history = try await cluster.json(["history"], as: [HistoryEntryJSON].self)
        #expect(history.allSatisfy { $0.kind != "failover" }, "nothing failed over: \(history.map(\.vm))")
    }
}

/// Issue 22's partition test: a TCP proxy the test controls is the only path between c's agent and the coordinator.
/// Cut with the default isolation response, c is `isolated`: its VMs keep running where they are, nothing fails over,
/// nothing is fenced. Cut again once safe01's response is `stop`: c stops safe01 after `isolationTimeout` (its
/// peers' records show them running), its storage heartbeat lists it stopped, and only then does safe01 fail over.
extension ClusterEndToEndTests {
    /// Polls `nodes` until `node` is in `state` (or `seconds` pass).
    static func waitForState(
        _ node: String,
        _ state: String,
        in cluster: Cluster,
        seconds: Double
    ) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let nodes = try? await cluster.json(["nodes"], as: [NodeJSON].self)
            if nodes?.first(where: { $0.name == node })?.state == state { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// The times (ms) at which `node`'s stop hook ran, per VM.
    static func stopTimes(_ layout: ClusterLayout, _ node: String) -> [(vm: String, at: Int64)] {
        let text = (try? String(contentsOfFile: layout.root + "/stop-\(node).log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard words.count == 2, let nanoseconds = Int64(words[1]) else { return nil }
            return (String(words[0]), nanoseconds / 1_000_000)
        }
    }

    @Test func anAgentCutOffFromTheCoordinatorIsIsolatedAndStopsOnlyWhatItsPolicySays() async throws {
        let layout = try ClusterLayout()
        defer { layout.remove() }
        let inventories = try layout.buildScenario()
        for (node, vms) in inventories { try layout.writeInventory(node, vms) }
        var cluster = try Cluster(
            layout: layout,
            leaseTTL: "5s",
            fenceHooks: true,
            coordinatorExtra: "isolationTimeout: 3s",
            proxied: ["c"]
        )
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents()
        _ = try #require(try await cluster.waitForAudit { Set($0.risks.compactMap(\.vm)) == Self.risky })
        let proxy = try #require(cluster.proxies["c"])
        // Every node writes its record before the first cut (the coordinator said which volumes are shared).
        let slot =
            layout.shared + "/" + StorageHeartbeatRecord.directory + "/"
            + StorageHeartbeatRecord.fileName(of: NodeName("c"))
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: slot) {
            try await Task.sleep(for: .milliseconds(100))
        }

        // keep-running (the default): cut off for three leases, c is isolated and nothing moves or stops.
        proxy.cut()
        #expect(try await Self.waitForState("c", "isolated", in: cluster, seconds: 15), "c was not declared isolated")
        let metrics = Daemons.httpGet(port: cluster.port, path: "/metrics") ?? ""
        let isolatedCount = #"chainkeeper_node_state_changes_total{state="isolated"} 1"#
        #expect(metrics.contains(isolatedCount), "\(metrics.prefix(2000))")
        try await Task.sleep(for: .seconds(10))
        let during = try await cluster.json(["vms"], as: [VMSummaryJSON].self)
        #expect(during.filter { ["safe01", "midlocal"].contains($0.name) }.allSatisfy { $0.owner == "c" })
        #expect(try await cluster.json(["nodes"], as: [NodeJSON].self).first { $0.name == "c" }?.state == "isolated")
        let audit = try await cluster.json(["audit"], as: AuditResponse.self)
        #expect(audit.risks.contains { $0.code == "node-isolated" && $0.node == "c" })
        #expect(Self.fenceTimes(layout, "c").isEmpty, "c's fence hook ran while it was only isolated")
        #expect(Self.stopTimes(layout, "c").isEmpty, "c stopped a VM whose isolation response is keep-running")
        let confirm = try await cluster.cli(["node", "fence-confirm", "c"])
        #expect(confirm.status == 3, "fence-confirm of an isolated node is refused: \(confirm.err)")
        var log = try String(contentsOfFile: layout.root + "/agent-c.log", encoding: .utf8)
        #expect(log.contains("isolated: the coordinator has not renewed"))
        #expect(!log.contains("fencing this node"))
        proxy.heal()
        #expect(try await Self.waitForState("c", "up", in: cluster, seconds: 15), "c did not come back up")
        var history = try await cluster.json(["history"], as: [HistoryEntryJSON].self)
        #expect(history.allSatisfy { $0.kind != "failover" }, "nothing failed over: \(history.map(\.vm))")

        // stop: safe01 is stopped by c once it has been isolated for isolationTimeout, then fails over.
        var stoppedInventory = inventories["c"] ?? []
        for index in stoppedInventory.indices where stoppedInventory[index]["name"] as? String == "safe01" {
            stoppedInventory[index]["state"] = "Off"
        }
        try layout.writeInventory("c", stoppedInventory, suffix: ".stopped")
        let set = try await cluster.cli(["policy", "set", "safe01", "--isolation", "stop", "--json"])
        #expect(set.status == 0, "\(set.err)")
        #expect(try JSONDecoder().decode(PolicyJSON.self, from: Data(set.out.utf8)).isolation == "stop")
        // A few heartbeats: c's agent learns which of its VMs stop.
        try await Task.sleep(for: .seconds(3))
        let cutAt = Self.nowMilliseconds()
        proxy.cut()
        let moved = try #require(
            try await Self.waitForOwner(of: "safe01", otherThan: "c", in: cluster, seconds: 30),
            "safe01 was not failed over from the isolated c"
        )
        #expect(["a", "b"].contains(moved.owner))
        let stops = Self.stopTimes(layout, "c")
        #expect(stops.map(\.vm) == ["safe01"], "only safe01 is stopped: \(stops)")
        history = try await cluster.json(["history", "--vm", "safe01"], as: [HistoryEntryJSON].self)
        let failover = try #require(history.first { $0.kind == "failover" })
        #expect(failover.state == "committed")
        #expect(failover.source == "c")
        // Stopped (the VM's process gone) before the failover was even planned: never on two nodes.
        let stoppedAt = stops.first?.at ?? .max
        #expect(stoppedAt < failover.createdAt, "stopped at \(stoppedAt), failover planned at \(failover.createdAt)")
        #expect(stoppedAt - cutAt >= 3000, "stopped \(stoppedAt - cutAt) ms after the cut: before isolationTimeout")
        print(
            "isolation stop: cut → stopped \(stoppedAt - cutAt) ms, → failover committed \(failover.updatedAt - cutAt) ms"
        )
        #expect(Self.fenceTimes(layout, "c").isEmpty, "c was never fenced: it stopped only safe01")
        #expect(try await cluster.json(["vm", "show", "midlocal"], as: VMDetailJSON.self).owner == "c")
        log = try String(contentsOfFile: layout.root + "/agent-c.log", encoding: .utf8)
        #expect(log.contains("stopped while this node is isolated"))

        // Healed: c comes back up and does not claim safe01.
        proxy.heal()
        #expect(try await Self.waitForState("c", "up", in: cluster, seconds: 15), "c did not come back up")
        try await Task.sleep(for: .seconds(2))
        #expect(try await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self).owner == moved.owner)
    }
}
