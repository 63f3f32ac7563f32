import ClusterAPI
import ClusterTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 20's process test: while a client holds 2,000 idle connections and two admin clients run five-second queries
/// in a loop, three real agents' leases keep being renewed for a minute: no fence hook runs, every node stays up.
extension ClusterEndToEndTests {
    /// What the load threads did, shared with the test.
    final class Load: Sendable {
        let stop = Mutex(false)
        let held = Mutex((now: 0, peak: 0, opened: 0))
        let queries = Mutex((timedOut: 0, other: [Int]()))
        var stopping: Bool { stop.withLock { $0 } }
    }

    @Test func leasesAreRenewedUnderIdleConnectionsAndEndlessQueries() async throws {
        RawConnection.raiseOpenFileLimit()
        let layout = try ClusterLayout()
        defer { layout.remove() }
        for (node, vms) in try layout.buildScenario() { try layout.writeInventory(node, vms) }
        // The per-address cap raised so that all 2,000 idle connections are really held (from one address they would
        // otherwise be refused past 256); the total cap and every timeout are the defaults.
        var cluster = try Cluster(
            layout: layout,
            leaseTTL: "5s",
            fenceHooks: true,
            coordinatorExtra: "limits: {connectionsPerAddress: 4096}"
        )
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents()
        _ = try #require(try await cluster.waitForAudit { Set($0.risks.compactMap(\.vm)) == Self.risky })
        let port = cluster.port
        let load = Load()

        // 2,000 connections from 127.0.0.2 that send half a request head and nothing more; those the coordinator
        // closes (its idle timeout is 30 s) are opened again.
        let holder = Thread {
            var connections: [RawConnection] = []
            while !load.stopping {
                connections.removeAll { $0.closedByPeer(within: .zero) }
                while connections.count < 2_000, !load.stopping {
                    guard let connection = RawConnection(port: port, source: "127.0.0.2") else { break }
                    connection.send("GET /v1/audit HTTP/1.1\r\nHost: x\r\n")
                    connections.append(connection)
                    load.held.withLock { $0.opened += 1 }
                }
                load.held.withLock { $0 = (connections.count, max($0.peak, connections.count), $0.opened) }
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        holder.start()
        // Two admins, each running a query that loops until the five-second limit stops it, again and again.
        let sql = #"{"sql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"}"#
        let admins = (0..<2).map { _ in
            Thread {
                while !load.stopping {
                    let answer = Daemons.http(
                        "POST",
                        port: port,
                        path: "/v1/query",
                        headers: ["Authorization": "Bearer \(ClusterEndToEndTests.adminToken)"],
                        body: Array(sql.utf8)
                    )
                    let timedOut = String(decoding: answer?.body ?? [], as: UTF8.self).contains("query-timeout")
                    load.queries.withLock { timedOut ? ($0.timedOut += 1) : $0.other.append(answer?.status ?? 0) }
                }
            }
        }
        admins.forEach { $0.start() }

        let started = ContinuousClock.now
        var states: Set<String> = []
        while ContinuousClock.now - started < .seconds(60) {
            try await Task.sleep(for: .seconds(5))
            let nodes = try await cluster.json(["nodes"], as: [NodeJSON].self)
            states.formUnion(nodes.map(\.state))
        }
        load.stop.withLock { $0 = true }
        let peak = load.held.withLock { $0.peak }
        let queries = load.queries.withLock { $0 }
        while holder.isExecuting || admins.contains(where: \.isExecuting) {
            try await Task.sleep(for: .milliseconds(100))
        }

        #expect(peak >= 1_990, "the client held \(peak) idle connections at most")
        #expect(queries.timedOut >= 16, "\(queries.timedOut) five-second queries ran (two at a time for a minute)")
        #expect(states == ["up"], "every node stayed up: \(states)")
        for node in ["a", "b", "c"] {
            #expect(Self.fenceTimes(layout, node).isEmpty, "\(node)'s fence hook ran")
            let log = try String(contentsOfFile: layout.root + "/agent-\(node).log", encoding: .utf8)
            #expect(!log.contains("fencing this node"), "\(node) fenced itself")
        }
        #expect(cluster.coordinator?.process.isRunning == true)
    }
}
