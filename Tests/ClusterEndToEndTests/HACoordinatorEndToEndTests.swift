import ClusterAPI
import ClusterTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two coordinators on three etcd members (issue 8), all real processes on loopback, killed and paused with real
/// signals: one leads, the other answers reads and sends writes to it; the state that must never diverge survives
/// every failure.
@Suite(.serialized) struct HACoordinatorEndToEndTests {
    /// The leader lease of the quorum test; the takeover test uses issue 27's 2 s.
    static let leaderLease: Double = 3

    /// The etcd members, two coordinators (`c1`, `c2`) and the three agents of `ClusterLayout`'s scenario, whose
    /// configs list both coordinators.
    final class HACluster: @unchecked Sendable {
        let layout: ClusterLayout
        let etcd: EtcdCluster
        var base: ClusterEndToEndTests.Cluster
        let ports: [String: Int]
        var coordinators: [String: DaemonProcess] = [:]
        /// `leaderLeaseTTL` in seconds.
        let leaderLease: Double

        init(leaderLease: Double = HACoordinatorEndToEndTests.leaderLease) throws {
            self.leaderLease = leaderLease
            layout = try ClusterLayout()
            for (node, vms) in try layout.buildScenario() { try layout.writeInventory(node, vms) }
            etcd = try EtcdCluster()
            base = try ClusterEndToEndTests.Cluster(layout: layout, leaseTTL: "10s")
            ports = ["c1": Daemons.freePort(), "c2": Daemons.freePort()]
            let endpoints = etcd.endpoints.joined(separator: ", ")
            for (name, port) in ports {
                try """
                listen: "127.0.0.1:\(port)"
                dataDir: \(layout.root)/\(name)
                adminTokens: [\(ClusterEndToEndTests.adminToken)]
                commandTimeout: 8s
                leaseTTL: 10s
                leaderLeaseTTL: \(Int(leaderLease))s
                agentTokens: {a: token-node-a-000000, b: token-node-b-000000, c: token-node-c-000000}
                store: {backend: etcd, endpoints: [\(endpoints)], prefix: chainkeeper-e2e/}
                """.write(toFile: layout.root + "/\(name).yaml", atomically: true, encoding: .utf8)
            }
            // Every agent knows both coordinators.
            for node in ["a", "b", "c"] {
                let path = layout.root + "/agent-\(node).json"
                var config =
                    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
                    as? [String: Any] ?? [:]
                config["coordinator"] = [url("c1"), url("c2")]
                // An adopt that waits while `hold-adopt-NODE` exists: a test holds a migration at source-released.
                var hooks = config["hooks"] as? [String: String] ?? [:]
                hooks["adopt"] =
                    "touch \(layout.root)/adopting-\(node); "
                    + "while [ -f \(layout.root)/hold-adopt-\(node) ]; do sleep 0.1; done; "
                    + "echo \"$CHAINKEEPER_OPERATION $CHAINKEEPER_VM_NAME $CHAINKEEPER_EPOCH\" >> \(layout.root)/hooks-\(node).log"
                config["hooks"] = hooks
                try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
            }
        }

        func url(_ name: String) -> String { "http://127.0.0.1:\(ports[name] ?? 0)" }

        func start(_ name: String) throws {
            coordinators[name] = try DaemonProcess(
                Daemons.chainkeeperd,
                ["coordinator", "--config", layout.root + "/\(name).yaml"],
                environment: [:],
                logPath: layout.root + "/\(name)-\(UUID().uuidString.prefix(6)).log"
            )
        }

        /// `GET /v1/leadership` of one coordinator (nil when it does not answer).
        func leadership(_ name: String) -> LeadershipJSON? {
            guard
                let answer = Daemons.httpGet(
                    port: ports[name] ?? 0,
                    path: "/v1/leadership",
                    headers: ["Authorization": "Bearer \(ClusterEndToEndTests.adminToken)"]
                ), answer.status == 200
            else { return nil }
            return try? JSONDecoder().decode(LeadershipJSON.self, from: Data(answer.body))
        }

        /// Polls until `name` says it leads; returns how long that took, or nil after `seconds`.
        func waitUntilLeading(_ name: String, seconds: Double) async throws -> Double? {
            let start = Date()
            while Date().timeIntervalSince(start) < seconds {
                if leadership(name)?.role == "leader" { return Date().timeIntervalSince(start) }
                try await Task.sleep(for: .milliseconds(50))
            }
            return nil
        }

        /// The CLI with `--coordinator` set to `urls` (comma separated, as an admin would give several).
        func cli(_ arguments: [String], urls: [String]) async throws -> (status: Int32, out: String, err: String) {
            try await Daemons.run(
                Daemons.chainkeeper,
                arguments,
                environment: [
                    "CHAINKEEPER_URL": urls.joined(separator: ","),
                    "CHAINKEEPER_TOKEN": ClusterEndToEndTests.adminToken,
                ]
            )
        }

        func json<T: Decodable>(_ arguments: [String], urls: [String], as type: T.Type) async throws -> T {
            let result = try await cli(arguments + ["--json"], urls: urls)
            return try JSONDecoder().decode(T.self, from: Data(result.out.utf8))
        }

        /// A raw admin POST to one coordinator: status, headers and body.
        func post(_ name: String, _ path: String) -> (status: Int, headers: String, body: String)? {
            guard
                let answer = Daemons.http(
                    "POST",
                    port: ports[name] ?? 0,
                    path: path,
                    headers: [
                        "Authorization": "Bearer \(ClusterEndToEndTests.adminToken)",
                        "Content-Type": "application/json",
                    ],
                    body: Array("{}".utf8)
                )
            else { return nil }
            return (answer.status, answer.headers, String(decoding: answer.body, as: UTF8.self))
        }

        /// Agents that fenced themselves: none may, as every takeover ends before an agent's lease would run out.
        func fencedAgents() -> [String] {
            base.agents.filter { $0.value.log.contains("fencing this node") }.map(\.key).sorted()
        }

        func stopAll() {
            for agent in base.agents.values { agent.stop() }
            for coordinator in coordinators.values {
                kill(coordinator.process.processIdentifier, SIGCONT)
                coordinator.stop(SIGKILL)
            }
            for node in ["a", "b", "c"] {
                try? "exit\n".write(
                    toFile: layout.root + "/agent-\(node)/watchdog.feed",
                    atomically: true,
                    encoding: .utf8
                )
            }
            layout.remove()
        }
    }

    /// Starts etcd, c1 (which wins the first election), c2 and the agents; waits until both coordinators have the
    /// agents' reports.
    static func started(leaderLease: Double = leaderLease) async throws -> HACluster {
        let cluster = try HACluster(leaderLease: leaderLease)
        try cluster.start("c1")
        // Set-up, not the measured takeover: at the suite's start every test launches its processes at once on two
        // cores, and a fresh three-member etcd and the first election once took more than 20 s there.
        _ = try #require(
            try await cluster.waitUntilLeading("c1", seconds: 60),
            "c1 never led; its log ends: \(cluster.coordinators["c1"]?.log.suffix(3000) ?? "")"
        )
        try cluster.start("c2")
        try cluster.base.startAgents()
        for name in ["c1", "c2"] {
            var seen: Set<String> = []
            for _ in 0..<120 {
                let audit = try? await cluster.json(["audit"], urls: [cluster.url(name)], as: AuditResponse.self)
                seen = Set(audit?.risks.compactMap(\.vm) ?? [])
                if seen == ClusterEndToEndTests.risky { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(seen == ClusterEndToEndTests.risky, "\(name) has every agent's reports")
        }
        return cluster
    }

    @Test func aKilledOrPausedLeaderIsReplacedAndCannotWriteAgain() async throws {
        let cluster = try await Self.started(leaderLease: 2)
        let lease = cluster.leaderLease
        defer { cluster.stopAll() }
        let (c1, c2) = (cluster.url("c1"), cluster.url("c2"))
        #expect(cluster.leadership("c2")?.role == "standby")
        #expect(cluster.leadership("c2")?.leader == c1)

        // A write sent to the standby: 503 not-leader with the leader's URL, never proxied.
        let refused = try #require(cluster.post("c2", "/v1/nodes/a/drain"))
        #expect(refused.status == 503)
        let body = try JSONDecoder().decode(ErrorBody.self, from: Data(refused.body.utf8))
        #expect(body.error.code == "not-leader" && body.error.leader == c1)
        #expect(
            try await cluster.json(["nodes"], urls: [c1], as: [NodeJSON].self).first { $0.name == "a" }?.state == "up"
        )
        // Logging in to the standby's dashboard is no cluster write: the dashboard's own gate answers this bare post
        // (no form, no same-origin headers), not the 503 of a write.
        let login = try #require(cluster.post("c2", "/ui/login"))
        #expect(login.status != 503 && !login.body.contains("not-leader"), "\(login.status) \(login.body)")

        // A read on the standby is answered from its copy, and the CLI says so on stderr.
        let standbyRead = try await cluster.cli(["vm", "show", "memlocal"], urls: [c2])
        #expect(standbyRead.status == 0, "\(standbyRead.err)")
        #expect(
            standbyRead.err.contains("answered by the standby coordinator at \(c2) from a copy"),
            "\(standbyRead.err)"
        )

        // The CLI given only the standby follows it to the leader; the migration is journaled in etcd.
        let migrated = try await cluster.cli(["migrate", "safe01", "--to", "a"], urls: [c2])
        #expect(migrated.status == 0, "\(migrated.out) \(migrated.err)")
        let before = try await cluster.json(["history", "--vm", "safe01"], urls: [c1], as: [HistoryEntryJSON].self)
        #expect(before.map(\.state) == ["committed"])
        #expect(before.first?.epoch == 2)

        // SIGKILL the leader: the standby accepts a write (`PUT …/policy`, sent to it every 20 ms) within the design's
        // bound: the lease runs out at most a lease after c1's last renewal, etcd deletes the key at its next check of
        // expired leases (every 500 ms), and c2, polling every 50 ms, campaigns and copies what changed; a second is
        // left for that on a machine running the whole suite. Issue 27's target (under 3 s with a 2 s lease) is
        // measured by `chainkeeper-bench takeover-latency` with release binaries.
        #expect(cluster.coordinators["c1"]?.stop(SIGKILL) == SIGKILL)
        let killed = Date()
        var takeover: Double?
        while takeover == nil, Date().timeIntervalSince(killed) < lease + 5 {
            let answer = Daemons.http(
                "PUT",
                port: cluster.ports["c2"] ?? 0,
                path: "/v1/vms/memlocal/policy",
                headers: [
                    "Authorization": "Bearer \(ClusterEndToEndTests.adminToken)", "Content-Type": "application/json",
                ],
                body: Array(#"{"clear":false,"priority":"high"}"#.utf8)
            )
            if answer?.status == 200 { takeover = Date().timeIntervalSince(killed) }
            try await Task.sleep(for: .milliseconds(20))
        }
        let accepted = try #require(takeover, "c2 never accepted a write")
        #expect(accepted <= lease + 0.5 + 1, "a write went through \(accepted) s after the kill")
        #expect(cluster.leadership("c2")?.role == "leader")
        print("HA: c2 accepted a write \(accepted) s after c1's SIGKILL (leader lease \(lease) s)")
        // Nothing lost: the journal entry and the owner it set are there; the next epoch is 3, never 2 again.
        let after = try await cluster.json(["history", "--vm", "safe01"], urls: [c2], as: [HistoryEntryJSON].self)
        #expect(after.map(\.id) == before.map(\.id))
        #expect(try await cluster.json(["vm", "show", "safe01"], urls: [c2], as: VMDetailJSON.self).owner == "a")
        let again = try await cluster.cli(["migrate", "safe01", "--to", "b"], urls: [c1, c2])
        #expect(again.status == 0, "\(again.out) \(again.err)")
        let history = try await cluster.json(["history", "--vm", "safe01"], urls: [c2], as: [HistoryEntryJSON].self)
        #expect(history.map(\.epoch) == [3, 2], "epochs only grow, each used once")
        let owners = try await cluster.json(["vms"], urls: [c2], as: [VMSummaryJSON].self)
        #expect(owners.count == 5 && Set(owners.map(\.id)).count == 5, "one row, so one owner, per VM")
        #expect(owners.first { $0.name == "safe01" }?.owner == "b")

        // c1 back as a standby; then SIGSTOP c2 (the leader) until c1 has taken over, and SIGCONT it.
        try cluster.start("c1")
        for _ in 0..<100 where cluster.leadership("c1")?.role != "standby" {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(cluster.leadership("c1")?.role == "standby")
        let paused = try #require(cluster.coordinators["c2"])
        kill(paused.process.processIdentifier, SIGSTOP)
        let second = try #require(try await cluster.waitUntilLeading("c1", seconds: lease + 5))
        #expect(second <= lease + 0.5 + 1, "took \(second) s")
        print("HA: c1 led \(second) s after c2's SIGSTOP")
        kill(paused.process.processIdentifier, SIGCONT)
        // Whatever the woken coordinator still believes, its term is gone: the write is refused.
        let stale = try #require(cluster.post("c2", "/v1/nodes/a/drain"))
        #expect(stale.status == 503, "\(stale.body)")
        #expect(stale.body.contains("not-leader"))
        var view: LeadershipJSON?
        for _ in 0..<40 {
            view = cluster.leadership("c2")
            if view?.role == "standby", view?.leader == c1 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(view?.role == "standby" && view?.leader == c1, "c2 stepped down and follows c1")
        #expect(
            try await cluster.json(["nodes"], urls: [c1], as: [NodeJSON].self).first { $0.name == "a" }?.state == "up"
        )
        #expect(
            try await cluster.json(["history", "--vm", "safe01"], urls: [c2, c1], as: [HistoryEntryJSON].self).count
                == 2
        )
        #expect(cluster.fencedAgents().isEmpty, "no agent's lease ran out during the takeovers")
    }

    /// Polls until `policy set` (a write of the critical state) succeeds through either coordinator; returns how long
    /// that took, or nil after `seconds`.
    nonisolated(unsafe) static var lastWriteError = ""

    static func waitForWrites(_ cluster: HACluster, priority: String, seconds: Double) async throws -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            let result = try await cluster.cli(
                ["policy", "set", "memlocal", "--priority", priority],
                urls: [cluster.url("c1"), cluster.url("c2")]
            )
            if result.status == 0 { return Date().timeIntervalSince(start) }
            lastWriteError = result.err
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("no write went through in \(seconds) s; the last refusal: \(lastWriteError)")
        for (name, coordinator) in cluster.coordinators {
            Issue.record("\(name)'s log: \(coordinator.log.suffix(3000))")
        }
        return nil
    }

    @Test func etcdLosingItsLeaderOrItsQuorumStopsWritesOnlyUntilItIsBack() async throws {
        let cluster = try await Self.started()
        defer { cluster.stopAll() }
        let both = [cluster.url("c1"), cluster.url("c2")]
        #expect(try await Self.waitForWrites(cluster, priority: "high", seconds: 5) != nil)

        // SIGKILL the etcd leader: writes go through again within 2 s.
        let etcdLeader = try cluster.etcd.leader()
        etcdLeader.kill()
        let resumed = try #require(try await Self.waitForWrites(cluster, priority: "low", seconds: 15))
        #expect(resumed <= 2, "writes resumed after \(resumed) s")
        print("HA: writes resumed \(resumed) s after the etcd leader's SIGKILL")

        // A migration held at source-released (the target's adopt hook waits), then a second member killed: no quorum.
        let hold = cluster.layout.root + "/hold-adopt-a"
        _ = FileManager.default.createFile(atPath: hold, contents: nil)
        let migration = Task { try await cluster.cli(["migrate", "safe01", "--to", "a"], urls: both) }
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: cluster.layout.root + "/adopting-a") {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(FileManager.default.fileExists(atPath: cluster.layout.root + "/adopting-a"), "the adopt was sent")
        let survivor = try #require(cluster.etcd.members.first { $0 !== etcdLeader })
        let second = try #require(cluster.etcd.members.first { $0 !== etcdLeader && $0 !== survivor })
        second.kill()
        try FileManager.default.removeItem(atPath: hold)
        let interrupted = try await migration.value
        #expect(interrupted.status != 0, "the commit could not be written: \(interrupted.err)")

        // Every coordinator refuses writes (503) while reads still answer. The leader's refusal may be "etcd did not
        // confirm it": its proposal can sit in the surviving member's log and be applied once the quorum is back.
        var unconfirmed = false
        for name in ["c1", "c2"] {
            let refused = try #require(cluster.post(name, "/v1/nodes/b/drain"))
            #expect(refused.status == 503, "\(name): \(refused.status) \(refused.body)")
            if refused.body.contains("neither made nor refused") { unconfirmed = true }
            let detail = try await cluster.json(
                ["vm", "show", "memlocal"],
                urls: [cluster.url(name)],
                as: VMDetailJSON.self
            )
            #expect(detail.owner == "b", "\(name) still answers reads")
        }
        let open = try await cluster.json(["history", "--vm", "safe01"], urls: both, as: [HistoryEntryJSON].self)
        #expect(open.first?.state == "source-released", "the journal holds the unfinished migration")

        // The members come back: a leader is elected and finishes the migration from the journal.
        // The outage outlasts the agents' lease (10 s; they fence at 4/5 of it), so the new leader's recovery meets a
        // target that fenced itself and must be readmitted first: "not yet", which must not abort the migration. On a
        // quick machine the outage used to end before the agents fenced, and the test passed without that path.
        try await Task.sleep(for: .seconds(10))
        try etcdLeader.restart()
        try second.restart()
        var finished: [HistoryEntryJSON] = []
        for _ in 0..<120 {
            finished =
                (try? await cluster.json(["history", "--vm", "safe01"], urls: both, as: [HistoryEntryJSON].self))
                ?? []
            if finished.first?.state == "committed" { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(finished.map(\.state) == ["committed"], "\(finished.first?.steps.map(\.state) ?? [])")
        #expect(finished.first?.id == open.first?.id)
        let owner = try await cluster.json(["vm", "show", "safe01"], urls: both, as: VMDetailJSON.self)
        #expect(owner.owner == "a" && owner.epoch == finished.first?.epoch)
        #expect(try await Self.waitForWrites(cluster, priority: "medium", seconds: 10) != nil)
        // With no coordinator able to renew their leases for longer than 4/5 of a lease, the agents fenced themselves
        // (SPEC §6); the new leader readmits them.
        var states: [String] = []
        for _ in 0..<60 {
            states = ((try? await cluster.json(["nodes"], urls: both, as: [NodeJSON].self)) ?? []).map(\.state)
            if states == ["up", "up", "up"] { break }
            if states == ["up", "draining", "up"] {
                // Only a drain the leader said it could not confirm may have been applied after all.
                #expect(unconfirmed, "b is draining although every drain was refused outright")
                _ = try await cluster.cli(["node", "resume", "b"], urls: both)
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(states == ["up", "up", "up"], "every node readmitted")
    }
}
