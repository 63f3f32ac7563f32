import ClusterAPI
import ClusterTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Failover with real processes (issue 6): SIGKILL an agent and its watchdog fences the node before any of its VMs is
/// owned elsewhere; SIGSTOP one past its lease and, on SIGCONT, it has fenced itself and claims nothing.
extension ClusterEndToEndTests {
    static let failoverLease: Double = 5

    /// The wall times (ms) at which `node`'s fence hook ran.
    static func fenceTimes(_ layout: ClusterLayout, _ node: String) -> [Int64] {
        let text = (try? String(contentsOfFile: layout.root + "/fence-\(node).log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { Int64($0).map { $0 / 1_000_000 } }
    }

    static func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Polls `vm show VM` until its owner is not `node` (or `seconds` pass).
    static func waitForOwner(
        of vm: String,
        otherThan node: String,
        in cluster: Cluster,
        seconds: Double
    ) async throws -> VMDetailJSON? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let detail = try? await cluster.json(["vm", "show", vm], as: VMDetailJSON.self), detail.owner != node {
                return detail
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    /// The scenario's cluster on `layout` with fence hooks and `leaseTTL`, started, with every agent's report in.
    static func startedFailoverCluster(_ layout: ClusterLayout, leaseTTL: String) async throws -> Cluster {
        for (node, vms) in try layout.buildScenario() { try layout.writeInventory(node, vms) }
        var cluster = try Cluster(layout: layout, leaseTTL: leaseTTL, fenceHooks: true)
        do {
            try await cluster.startCoordinator()
            try cluster.startAgents()
            _ = try #require(
                try await cluster.waitForAudit { audit in
                    Set(audit.risks.compactMap(\.vm)) == Self.risky && audit.risks.allSatisfy { $0.vm != nil }
                }
            )
        } catch {
            cluster.stopAll()
            throw error
        }
        return cluster
    }

    /// Issue 27: with `leaseTTL: 2s` (heartbeats every 500 ms), an HA VM is owned elsewhere within 3 s of its agent's
    /// SIGKILL, measured to the journal's commit time; its node was fenced by its watchdog first.
    @Test func withATwoSecondLeaseAKilledAgentsVMIsOwnedElsewhereWithinThreeSeconds() async throws {
        let layout = try ClusterLayout()
        defer { layout.remove() }
        let cluster = try await Self.startedFailoverCluster(layout, leaseTTL: "2s")
        defer { cluster.stopAll() }
        // Past the coordinator's start-up wait (one lease), with every lease renewed since.
        try await Task.sleep(for: .seconds(2.5))
        let killedAt = Self.nowMilliseconds()
        #expect(cluster.agents["c"]?.stop(SIGKILL) == SIGKILL)
        let moved = try #require(
            try await Self.waitForOwner(of: "safe01", otherThan: "c", in: cluster, seconds: 15),
            "safe01 was not failed over"
        )
        #expect(moved.owner != "c")
        let history = try await cluster.json(["history", "--vm", "safe01"], as: [HistoryEntryJSON].self)
        let failover = try #require(history.first { $0.kind == "failover" && $0.state == "committed" })
        let fenced = Self.fenceTimes(layout, "c")
        #expect(fenced.count == 1 && (fenced.first ?? .max) < failover.createdAt, "fenced at \(fenced)")
        let latency = Double(failover.updatedAt - killedAt) / 1000
        print("failover latency: SIGKILL to committed in \(latency) s (lease 2 s)")
        // c writes a storage heartbeat on the shared volume, so it is declared down on that evidence (SPEC §6): a
        // reader saw its record unchanged for more than the lease. The record's last write was at most the kill; a
        // reader first sees it within a storage round (lease / 5 = 0.4 s) and reports it with its next heartbeat
        // (500 ms) after two seconds; the coordinator acts on that report at once. So the design's worst case is
        // 2 + 0.4 + 0.5 s and the move (milliseconds on loopback); typical runs take 2.6-2.8 s. The bound allows the
        // move half a second on a loaded machine; the benchmark (`chainkeeper-bench failover-latency`) measures the
        // 3 s target. Never sooner than the lease and its clock margin (2.2 s) after the last renewal, which was at
        // most one heartbeat (0.5 s) before the kill.
        #expect(latency > 1.7, "committed \(latency) s after the kill: sooner than the lease allows")
        #expect(latency < 2 + 0.4 + 0.5 + 0.5, "committed \(latency) s after the kill")
    }

    @Test func aKilledAgentIsFencedByItsWatchdogAndItsMovableVMsFailOver() async throws {
        let layout = try ClusterLayout()
        defer { layout.remove() }
        let cluster = try await Self.startedFailoverCluster(layout, leaseTTL: "5s")
        defer { cluster.stopAll() }
        // Drain a: the hostile-named VM moves with a real migration (journaled as a drain); lostparent, whose base disk
        // is missing, stays with its reason; exit 3 because one stayed. Then a takes VMs again.
        let drained = try await cluster.cli(["drain", "a", "--json"])
        #expect(drained.status == 3, "\(drained.out) \(drained.err)")
        let drain = try JSONDecoder().decode(DrainResponse.self, from: Data(drained.out.utf8))
        #expect(drain.moved.map(\.vm) == [ClusterLayout.hostileName])
        #expect(drain.stayed.map(\.vm) == ["lostparent"])
        #expect(drain.stayed.first?.reasons.map(\.code).contains("file-missing") == true)
        #expect(try await cluster.json(["nodes"], as: [NodeJSON].self).first { $0.name == "a" }?.state == "draining")
        let drainHistory = try await cluster.json(
            ["history", "--vm", ClusterLayout.hostileName],
            as: [HistoryEntryJSON].self
        )
        #expect(drainHistory.first?.kind == "drain")
        #expect(drainHistory.first?.state == "committed")
        #expect(try await cluster.cli(["node", "resume", "a"]).status == 0)
        #expect(try await cluster.json(["nodes"], as: [NodeJSON].self).first { $0.name == "a" }?.state == "up")

        // What failover will do, before anything fails: safe01 moves, midlocal (a disk on c's local volume) is held.
        let plan = try await cluster.json(["whatif", "fail", "c"], as: WhatIfResponse.self)
        #expect(plan.moves.map(\.vm) == ["safe01"])
        #expect(plan.blocked.map(\.vm) == ["midlocal"])

        // SIGKILL c's agent: its watchdog (a separate process) outlives it.
        let killedAt = Self.nowMilliseconds()
        #expect(cluster.agents["c"]?.stop(SIGKILL) == SIGKILL)
        let moved = try #require(
            try await Self.waitForOwner(of: "safe01", otherThan: "c", in: cluster, seconds: Self.failoverLease + 10),
            "safe01 was not failed over"
        )
        #expect(moved.owner == plan.moves.first?.target)
        let history = try await cluster.json(["history", "--vm", "safe01"], as: [HistoryEntryJSON].self)
        let failover = try #require(history.first { $0.kind == "failover" })
        #expect(failover.requestedBy == "failover")
        #expect(failover.state == "committed")
        #expect(failover.source == "c")
        #expect(
            failover.steps.map(\.state) == ["planned", "preflight", "source-released", "target-adopted", "committed"]
        )
        let fenced = Self.fenceTimes(layout, "c")
        #expect(fenced.count == 1, "c's watchdog ran the fence hook once")
        // The fence hook ran before the failover was even planned: never two nodes running safe01.
        let planned = failover.createdAt
        #expect((fenced.first ?? .max) < planned, "fenced at \(fenced), failover planned at \(planned)")
        let latency = Double(failover.updatedAt - killedAt) / 1000
        print("failover latency: SIGKILL to committed in \(latency) s (lease 5 s)")
        #expect(latency < Self.failoverLease + 5, "committed \(latency) s after the kill")
        #expect(
            (try? String(contentsOfFile: layout.root + "/agent-c/watchdog.log", encoding: .utf8))?
                .contains("fencing c") == true
        )

        // midlocal stays on c, failover-blocked with its reason, and stranded.
        let audit = try #require(
            try await cluster.waitForAudit { audit in audit.risks.contains { $0.code == "failover-blocked" } }
        )
        let blocked = audit.risks.filter { $0.code == "failover-blocked" }
        #expect(blocked.map(\.vm) == ["midlocal"])
        #expect(blocked.first?.message.contains("file-on-local-volume") == true)
        #expect(try await cluster.json(["vm", "show", "midlocal"], as: VMDetailJSON.self).owner == "c")
        let nodes = try await cluster.json(["nodes"], as: [NodeJSON].self)
        #expect(nodes.first { $0.name == "c" }?.state == "fenced")

        // SIGSTOP the node that now owns safe01 until past its lease; on SIGCONT it has fenced itself and does not
        // claim safe01, which fails over again to the one node left.
        let holder = moved.owner
        let other = holder == "a" ? "b" : "a"
        let holderAgent = try #require(cluster.agents[holder])
        kill(holderAgent.process.processIdentifier, SIGSTOP)
        let again = try await Self.waitForOwner(
            of: "safe01",
            otherThan: holder,
            in: cluster,
            seconds: Self.failoverLease + 10
        )
        #expect(again?.owner == other, "safe01 failed over from the stopped \(holder)")
        let holderFenced = Self.fenceTimes(layout, holder)
        #expect(holderFenced.count == 1, "\(holder)'s watchdog fenced it while its agent was stopped")
        let second = try await cluster.json(["history", "--vm", "safe01"], as: [HistoryEntryJSON].self)
            .first { $0.kind == "failover" && $0.source == holder }
        #expect((holderFenced.first ?? .max) < (second?.createdAt ?? 0))
        kill(holderAgent.process.processIdentifier, SIGCONT)

        // Readmitted, it owns what it still owns and nothing more, however many reports it sends.
        var readmitted = false
        for _ in 0..<100 where !readmitted {
            let state = try await cluster.json(["nodes"], as: [NodeJSON].self).first { $0.name == holder }?.state
            readmitted = state == "up"
            if !readmitted { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(readmitted, "\(holder) was readmitted after SIGCONT")
        try await Task.sleep(for: .seconds(2.5))
        let after = try await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self)
        #expect(after.owner == other)
        #expect(after.epoch == 3)
        let finalAudit = try await cluster.json(["audit"], as: AuditResponse.self)
        #expect(!finalAudit.risks.contains { $0.vm == "safe01" }, "\(finalAudit.risks)")
        #expect(holderAgent.log.contains("fencing this node"), "the stopped agent fenced itself when it woke")
        #expect(holderAgent.log.contains("admitted by the coordinator"))
    }
}
