import ChainModel
import ClusterAPI
import ClusterTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import Synchronization
import Testing

@testable import Coordinator

/// Issue 20, items 4-6: work that blocks, slow or idle clients and huge answers must not hold a heartbeat.
///
/// Real HTTP on loopback, real sockets held open from another loopback address.
@Suite struct OverloadTests {
    typealias Live = LiveCoordinator

    final class Finished: Sendable {
        let value = Mutex(0)
    }

    /// A real `chainkeeperd coordinator` process on loopback, with LiveCoordinator's tokens and `limits`.
    ///
    /// What is measured here must not share a thread pool with the other tests of this process. The third value is
    /// its temporary directory (data, config and log), for the caller to remove once the process has stopped.
    static func coordinatorProcess(
        limits: String = "{}",
        maxBodyBytes: Int = 64 << 20,
        agentPort: Int? = nil
    ) throws -> (DaemonProcess, Int, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("overload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = Daemons.freePort()
        let tokens = Live.nodes.map { "\"\($0)\": \"\(Live.agentToken($0))\"" }.joined(separator: ", ")
        let config = """
            {"listen": "127.0.0.1:\(port)", "dataDir": "\(directory.path)/data", "adminTokens": ["\(Live.adminToken)"],
             "agentTokens": {\(tokens)}, "maxBodyBytes": \(maxBodyBytes), "limits": \(limits)\(agentPort.map { ", \"agentListen\": \"127.0.0.1:\($0)\"" } ?? "")}
            """
        let path = directory.appendingPathComponent("coordinator.json").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let process = try DaemonProcess(
            Daemons.chainkeeperd,
            ["coordinator", "--config", path],
            environment: [:],
            logPath: directory.appendingPathComponent("coordinator.log").path
        )
        let deadline = ContinuousClock.now + .seconds(30)
        while Daemons.httpGet(port: port, path: "/healthz") == nil, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        return (process, port, directory.path)
    }

    /// Runs blocking socket work on a thread of its own, never on the concurrency pool the coordinator serves from.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: body()) }
        }
    }

    /// A heartbeat over a new connection: its status and how long the answer took.
    static func heartbeat(port: Int, node: String = "node1") async -> (status: Int, took: Duration) {
        await offPool { blockingHeartbeat(port: port, node: node) }
    }

    /// `heartbeat` on the calling thread.
    static func blockingHeartbeat(port: Int, node: String = "node1") -> (status: Int, took: Duration) {
        let started = ContinuousClock.now
        let answer = Daemons.http(
            "POST",
            port: port,
            path: "/v1/agents/\(node)/heartbeat",
            headers: ["Authorization": "Bearer \(Live.agentToken(node))", "Content-Type": "application/json"],
            body: Array(#"{"outbox": 0}"#.utf8)
        )
        return (answer?.status ?? 0, ContinuousClock.now - started)
    }

    /// A query that runs until the coordinator's five-second time limit stops it.
    static let endlessQuery =
        #"{"sql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"}"#

    static func query(port: Int, body: String = endlessQuery) async -> (status: Int, headers: String, body: [UInt8]) {
        await offPool {
            let answer = Daemons.http(
                "POST",
                port: port,
                path: "/v1/query",
                headers: ["Authorization": "Bearer \(Live.adminToken)", "Content-Type": "application/json"],
                body: Array(body.utf8)
            )
            return answer ?? (0, "", [])
        }
    }

    /// Issue 20 item 4: two queries looping until their time limit hold every admin worker of a real coordinator
    /// process; heartbeats are answered at once all the while, and admin requests beyond the lane's queue are
    /// answered 503 `busy` with `Retry-After`.
    @Test func heartbeatsAreAnsweredWhileQueriesHoldEveryAdminWorker() async throws {
        let (process, port, directory) = try Self.coordinatorProcess(limits: #"{"adminWorkers": 2, "adminQueue": 0}"#)
        defer {
            process.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
        // The whole sequence runs on threads of its own: on Swift's cooperative pool, shared with every other test of
        // the suite, the second query and the refused one could start together after a stall and race for the
        // second worker.
        let run = await Self.offPool { () -> LaneRun in
            let endless = Mutex<[(status: Int, headers: String, body: [UInt8])]>([])
            let queries = (0..<2).map { _ in
                Thread {
                    let answer = Daemons.http(
                        "POST",
                        port: port,
                        path: "/v1/query",
                        headers: ["Authorization": "Bearer \(Live.adminToken)", "Content-Type": "application/json"],
                        body: Array(Self.endlessQuery.utf8)
                    )
                    endless.withLock { $0.append(answer ?? (0, "", [])) }
                }
            }
            queries.forEach { $0.start() }
            // Once both are admitted (the lane's gauge says so), any further admin request is refused at once.
            var admitted = false
            let started = ContinuousClock.now
            while !admitted, ContinuousClock.now - started < .seconds(4) {
                let metrics = String(
                    decoding: Daemons.httpGet(port: port, path: "/metrics", headers: [:])?.body ?? [],
                    as: UTF8.self
                )
                admitted = metrics.contains(#"chainkeeper_lane_requests_now{lane="admin"} 2"#)
                if !admitted { Thread.sleep(forTimeInterval: 0.05) }
            }
            let refused = Daemons.http(
                "POST",
                port: port,
                path: "/v1/query",
                headers: ["Authorization": "Bearer \(Live.adminToken)", "Content-Type": "application/json"],
                body: Array(#"{"sql": "SELECT 1"}"#.utf8)
            )
            let metrics = String(
                decoding: Daemons.httpGet(port: port, path: "/metrics", headers: [:])?.body ?? [],
                as: UTF8.self
            )
            var beats: [(status: Int, took: Duration)] = []
            for _ in 0..<10 {
                let beatStarted = ContinuousClock.now
                let beat = Daemons.http(
                    "POST",
                    port: port,
                    path: "/v1/agents/node1/heartbeat",
                    headers: [
                        "Authorization": "Bearer \(Live.agentToken("node1"))", "Content-Type": "application/json",
                    ],
                    body: Array(#"{"outbox": 0}"#.utf8)
                )
                beats.append((beat?.status ?? 0, ContinuousClock.now - beatStarted))
                Thread.sleep(forTimeInterval: 0.2)
            }
            while queries.contains(where: \.isExecuting) || endless.withLock({ $0.count }) < 2 {
                Thread.sleep(forTimeInterval: 0.05)
            }
            return LaneRun(
                admitted: admitted,
                refused: refused ?? (0, "", []),
                metrics: metrics,
                beats: beats,
                endless: endless.withLock { $0 }
            )
        }
        try #require(run.admitted, "both endless queries were admitted within 4 s")
        #expect(run.refused.status == 503)
        #expect(run.refused.headers.lowercased().contains("retry-after: 1"))
        #expect(run.metrics.contains(#"chainkeeper_lane_busy_total{lane="admin"} 1"#), "\(run.metrics)")
        #expect(String(decoding: run.refused.body, as: UTF8.self).contains("\"busy\""))
        #expect(run.beats.allSatisfy { $0.status == 200 })
        let slowest = run.beats.map(\.took).max() ?? .zero
        #expect(slowest < .seconds(1), "the slowest heartbeat took \(slowest)")
        #expect(run.endless.map(\.status) == [400, 400])
        #expect(run.endless.allSatisfy { String(decoding: $0.body, as: UTF8.self).contains("query-timeout") })
    }

    /// What `heartbeatsAreAnsweredWhileQueriesHoldEveryAdminWorker` saw, gathered off the cooperative pool.
    struct LaneRun: Sendable {
        var admitted: Bool
        var refused: (status: Int, headers: String, body: [UInt8])
        var metrics: String
        var beats: [(status: Int, took: Duration)]
        var endless: [(status: Int, headers: String, body: [UInt8])]
    }

    /// Issue 20 item 4: two 6,000-VM reports (over 6 MiB each) posted at once are decoded and written on the report
    /// lane, one after the other and in steps, while heartbeats keep being answered at once. (Written on Swift's
    /// cooperative pool, two of them occupied both of its threads on a 2-core machine, and heartbeats waited.)
    @Test func largeReportsDoNotHoldHeartbeats() async throws {
        var bodies: [String: Data] = [:]
        for node in ["node2", "node3"] {
            let vms = (0..<6_000).map { Live.vm("\(node)-vm\($0)", node: node) }
            bodies[node] = try JSONEncoder().encode(Live.report(node, vms: vms, read: [node]))
        }
        #expect(bodies.values.allSatisfy { $0.count > 6 << 20 })
        let reports = bodies
        let (process, port, directory) = try Self.coordinatorProcess()
        defer {
            process.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
        do {
            let finished = Finished()
            let started = ContinuousClock.now
            let ingests = reports.map { node, body in
                Task {
                    await Self.offPool {
                        let status =
                            Daemons.http(
                                "POST",
                                port: port,
                                path: "/v1/agents/\(node)/report",
                                headers: ["Authorization": "Bearer \(Live.agentToken(node))"],
                                body: Array(body)
                            )?.status ?? 0
                        finished.value.withLock { $0 += 1 }
                        return status
                    }
                }
            }
            // The heartbeats on a thread of their own, as an agent's are: the other suites running in this process
            // must not decide how often this loop gets to send one (they once held the cooperative pool for seconds).
            let (slowest, during, refusedBeats) = await Self.offPool { () -> (Duration, Int, Int) in
                var slowest = Duration.zero
                var during = 0
                var refused = 0
                let deadline = ContinuousClock.now + .seconds(180)
                while ContinuousClock.now < deadline, finished.value.withLock({ $0 < 2 }) {
                    let beat = Self.blockingHeartbeat(port: port)
                    if beat.status != 200 { refused += 1 }
                    slowest = max(slowest, beat.took)
                    during += 1
                    Thread.sleep(forTimeInterval: 0.1)
                }
                return (slowest, during, refused)
            }
            #expect(refusedBeats == 0, "every heartbeat was answered 200")
            var statuses: [Int] = []
            for ingest in ingests { statuses.append(await ingest.value) }
            let took = ContinuousClock.now - started
            #expect(statuses == [200, 200])
            #expect(!process.log.contains("leadership"), "the embedded coordinator kept its leadership throughout")
            #expect(during >= 10, "\(during) heartbeats while the reports were written (\(took))")
            #expect(slowest < .seconds(1), "the slowest heartbeat took \(slowest); the reports \(took)")
            let vms = Daemons.httpGet(
                port: port,
                path: "/v1/vms",
                headers: ["Authorization": "Bearer \(Live.adminToken)"]
            )
            let listed = try JSONSerialization.jsonObject(with: Data(vms?.body ?? [])) as? [Any]
            #expect(listed?.count == 12_000)
        }
    }

    /// Issue 20 item 5: `agentListen` serves the agent routes and `/healthz`, and nothing else.
    @Test func theAgentListenerServesOnlyAgentRoutes() async throws {
        let agentPort = Daemons.freePort()
        let (process, port, directory) = try Self.coordinatorProcess(agentPort: agentPort)
        defer {
            process.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while Daemons.httpGet(port: agentPort, path: "/healthz") == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(await Self.heartbeat(port: agentPort).status == 200)
        let report = try JSONEncoder().encode(Live.report("node1", vms: [Live.vm("web01", node: "node1")], read: []))
        let posted = Daemons.http(
            "POST",
            port: agentPort,
            path: "/v1/agents/node1/report",
            headers: ["Authorization": "Bearer \(Live.agentToken("node1"))"],
            body: Array(report)
        )
        #expect(posted?.status == 200)
        let admin = ["Authorization": "Bearer \(Live.adminToken)"]
        #expect(Daemons.httpGet(port: agentPort, path: "/v1/audit", headers: admin)?.status == 404)
        #expect(Daemons.httpGet(port: agentPort, path: "/ui", headers: admin)?.status == 404)
        #expect(Daemons.httpGet(port: agentPort, path: "/metrics", headers: [:])?.status == 404)
        #expect(
            Daemons.httpGet(port: port, path: "/v1/vms", headers: admin)?.status == 200,
            "the main listener has all"
        )
        #expect(process.log.contains("agent routes also on 127.0.0.1:\(agentPort)"))
    }

    /// Issue 20 item 5: a connection that sends nothing, or never finishes its request head, is closed after the idle
    /// timeout; one that trickles a body is cut off at the body timeout; agents are answered meanwhile.
    @Test func idleAndTrickledConnectionsAreClosed() async throws {
        let live = try Live { config in
            config.limits.idleTimeout = .seconds(1)
            config.limits.bodyTimeout = .seconds(2)
        }
        try await live.test { client in
            let port = try #require(client.port)
            let silent = try #require(RawConnection(port: port, source: "127.0.0.2"))
            let header = try #require(RawConnection(port: port, source: "127.0.0.2"))
            let body = try #require(RawConnection(port: port, source: "127.0.0.2"))
            header.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
            body.send(
                "POST /v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Live.adminToken)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
            let trickle = Task.detached {
                for _ in 0..<40 {
                    guard header.send("X-Slow: 1\r\n"), body.send(" ") else { return }
                    try? await Task.sleep(for: .milliseconds(250))
                }
            }
            let (silentClosed, headerClosed) = await Self.offPool {
                (silent.closedByPeer(within: .seconds(4)), header.closedByPeer(within: .seconds(4)))
            }
            #expect(silentClosed && headerClosed)
            #expect(await Self.heartbeat(port: port).status == 200)
            let bodyClosed = await Self.offPool { body.closedByPeer(within: .seconds(6)) }
            #expect(bodyClosed, "a body trickled for longer than bodyTimeout is cut off")
            trickle.cancel()
        }
    }

    /// Issue 20 item 5: one address cannot hold more than its share of connections; another address is served.
    @Test func connectionsBeyondThePerAddressLimitAreRefused() async throws {
        let live = try Live { config in config.limits.connectionsPerAddress = 8 }
        try await live.test { client in
            let port = try #require(client.port)
            var held: [RawConnection] = []
            for _ in 0..<8 { held.append(try #require(RawConnection(port: port, source: "127.0.0.3"))) }
            try await Task.sleep(for: .milliseconds(200))
            let ninth = try #require(RawConnection(port: port, source: "127.0.0.3"))
            #expect(await Self.offPool { ninth.closedByPeer(within: .seconds(2)) })
            #expect(await Self.heartbeat(port: port).status == 200, "127.0.0.1 is another address")
            let first = held[0]
            let stillOpen = await Self.offPool { first.closedByPeer(within: .milliseconds(300)) }
            #expect(!stillOpen, "the connections within the limit stay open")
            held.removeAll()
            var answer = ""
            let deadline = ContinuousClock.now + .seconds(10)
            while !answer.hasPrefix("HTTP/1.1 200"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                let again = try #require(RawConnection(port: port, source: "127.0.0.3"))
                again.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = await Self.offPool { again.readAll(within: .seconds(2)) }
            }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "room again once they closed: \(answer.prefix(40))")
        }
    }

    /// Issue 20 item 5: past the listener's total, a connection from any address is refused until one closes.
    @Test func connectionsBeyondTheListenersTotalAreRefused() async throws {
        let live = try Live { config in config.limits.connections = 6 }
        try await live.test { client in
            let port = try #require(client.port)
            var held: [RawConnection] = []
            for index in 0..<6 {
                held.append(try #require(RawConnection(port: port, source: "127.0.0.\(10 + index)")))
            }
            try await Task.sleep(for: .milliseconds(200))
            let seventh = try #require(RawConnection(port: port, source: "127.0.0.20"))
            #expect(await Self.offPool { seventh.closedByPeer(within: .seconds(2)) })
            held.removeFirst()
            // The coordinator counts the closed connection out when its event loop sees it close: try for a while.
            var answer = ""
            let deadline = ContinuousClock.now + .seconds(10)
            while !answer.hasPrefix("HTTP/1.1 200"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                let again = try #require(RawConnection(port: port, source: "127.0.0.20"))
                again.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = await Self.offPool { again.readAll(within: .seconds(2)) }
            }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "room again once one closed: \(answer.prefix(40))")
        }
    }

    /// Issue 20 item 6: an answer is bounded in bytes as well as rows, and no value larger than 1 MiB can be built.
    @Test func queryAnswersAreBoundedInBytes() async throws {
        let live = try Live()
        try await live.test { client in
            let port = try #require(client.port)
            let wide = await Self.query(
                port: port,
                body: #"""
                    {"sql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) SELECT printf('%.*c', 1000000, 'x') FROM n"}
                    """#
            )
            #expect(wide.status == 200)
            #expect(wide.body.count < 9 << 20, "\(wide.body.count) bytes")
            let answer = try JSONDecoder().decode(QueryResponse.self, from: Data(wide.body))
            #expect(answer.truncated)
            #expect(answer.rows.count == 8)
            let huge = await Self.query(port: port, body: #"{"sql": "SELECT length(printf('%.*c', 100000000, 'x'))"}"#)
            let cell = try JSONDecoder().decode(QueryResponse.self, from: Data(huge.body)).rows.first?.first
            #expect(cell == .null, "SQLite refuses to build a value past the length limit")
        }
    }

    /// Issue 20 item 9: the function list is an allow-list, refusals name what was refused, and errors carry no SQL
    /// of the schema.
    @Test(arguments: [
        ("SELECT fts3_tokenizer('simple')", "query-refused", "fts3_tokenizer()"),
        ("SELECT fts3_tokenizer('simple', x'00')", "query-refused", "fts3_tokenizer()"),
        ("SELECT sqlite_version()", "query-refused", "sqlite_version()"),
        ("SELECT * FROM pragma_table_info('node')", "query-refused", "table-valued functions"),
        ("CREATE TABLE t (x)", "query-refused", "CREATE is not allowed"),
        ("DROP VIEW vms", "query-refused", "DROP is not allowed"),
        ("SELECT nope FROM vms", "query-invalid", "no such column: nope"),
    ])
    func queryRefusalsNameWhatWasRefused(sql: String, code: String, says: String) async throws {
        let live = try Live()
        try await live.test { client in
            let response = try await client.execute(
                uri: "/v1/query",
                method: .post,
                headers: [.authorization: "Bearer \(Live.adminToken)", .contentType: "application/json"],
                body: ByteBuffer(data: try JSONEncoder().encode(QueryRequest(sql: sql)))
            )
            #expect(response.status == .badRequest)
            let body = try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body))
            #expect(body.error.code == code)
            #expect(body.error.message.contains(says), "\(body.error.message)")
            #expect(!body.error.message.contains("INSERT, UPDATE and DELETE"))
        }
    }
}
