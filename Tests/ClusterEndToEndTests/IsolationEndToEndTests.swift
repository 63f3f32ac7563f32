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
        #expect(record.flatMap { StorageHeartbeatRecord.decode([UInt8]($0)) }?.condition == .running)
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
        #expect(isolated.flatMap { StorageHeartbeatRecord.decode([UInt8]($0)) }?.condition == .isolated)

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
