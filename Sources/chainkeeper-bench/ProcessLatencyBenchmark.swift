import ArgumentParser
import ChainModel
import ClusterAPI
import ClusterTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Node failover with real processes (issue 27): SIGKILL of an agent to its HA VM owned elsewhere, at a short lease on
/// the embedded store.
///
/// A coordinator and three agents (`LatencyRig`); each run starts them afresh, waits past the coordinator's start-up
/// wait with every lease renewed, kills `c`'s agent and polls `vm show vm-c` every 10 ms. The figure is the journal's
/// commit time minus the kill (wall clock, same machine); the owner seen over HTTP is printed beside it.
struct FailoverLatencyBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover-latency",
        abstract: "Time SIGKILL of an agent to its HA VM owned elsewhere, with real processes (embedded store)."
    )

    @Option(help: "Runs, each on a fresh cluster.") var runs = 10
    @Option(help: "The coordinator's leaseTTL in seconds.") var leaseSeconds = 2

    func run() throws {
        print(
            "failover latency: 1 coordinator (embedded store), 3 agents heartbeating every 500 ms, leaseTTL \(leaseSeconds) s"
        )
        var committed: [Double] = []
        var seen: [Double] = []
        for run in 1...runs {
            let rig = try LatencyRig()
            defer { rig.remove() }
            try rig.configure(coordinator: "c0", leaseTTL: "\(leaseSeconds)s")
            try rig.startCoordinator("c0")
            guard LatencyRig.poll(seconds: 20, { rig.request("c0", "GET", "/healthz")?.status == 200 }) != nil else {
                throw ValidationError("the coordinator did not start: \(rig.coordinators["c0"]?.log ?? "")")
            }
            try rig.startAgents()
            let known = LatencyRig.poll(seconds: 30) {
                rig.decode([VMSummaryJSON].self, from: "c0", "/v1/vms")?.count == 3
            }
            guard known != nil else { throw ValidationError("the agents' reports did not arrive") }
            // Past the start-up wait (one lease), every lease renewed since, storage heartbeats read by peers.
            usleep(useconds_t(leaseSeconds * 1_500_000 + 500_000))
            let killedAt = Int64(Date().timeIntervalSince1970 * 1000)
            let killed = ContinuousClock.now
            rig.agents["c"]?.stop(SIGKILL)
            let moved = LatencyRig.poll(seconds: 30, since: killed) {
                guard let detail = rig.decode(VMDetailJSON.self, from: "c0", "/v1/vms/vm-c") else { return false }
                return detail.owner != "c"
            }
            let history = rig.decode([HistoryEntryJSON].self, from: "c0", "/v1/history?vm=vm-c") ?? []
            guard let moved, let entry = history.first(where: { $0.kind == "failover" && $0.state == "committed" })
            else {
                print("run \(run): vm-c was not failed over within 30 s")
                continue
            }
            let commit = Double(entry.updatedAt - killedAt) / 1000
            committed.append(commit)
            seen.append(moved)
            print(
                String(
                    format: "run %d: committed %.3f s after the kill, owner seen over HTTP at %.3f s",
                    run,
                    commit,
                    moved
                )
            )
        }
        print("SIGKILL to failover committed: \(spread(committed))")
        print("SIGKILL to the new owner seen by a client polling every 10 ms: \(spread(seen))")
    }
}

/// A coordinator takeover on etcd (issue 27): SIGKILL of the leading coordinator to the standby accepting a write.
///
/// Three etcd members, two coordinators with a short `leaderLeaseTTL` and `leaseTTL: 10s`, three agents listing both.
/// Each run starts everything afresh, kills the leader and sends `policy set` to the standby every 10 ms until it
/// answers 200.
struct TakeoverLatencyBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "takeover-latency",
        abstract: "Time SIGKILL of the leading coordinator to the etcd standby accepting a write, with real processes."
    )

    @Option(help: "Runs, each on a fresh cluster.") var runs = 10
    @Option(help: "The coordinators' leaderLeaseTTL in seconds.") var leaderLeaseSeconds = 2

    func run() throws {
        print(
            "takeover latency: 3 etcd members, 2 coordinators (leaderLeaseTTL \(leaderLeaseSeconds) s, leaseTTL 10 s), "
                + "3 agents"
        )
        var writes: [Double] = []
        var leads: [Double] = []
        var fenced = 0
        for run in 1...runs {
            let etcd = try EtcdCluster()
            let rig = try LatencyRig()
            defer { rig.remove() }
            let store =
                "leaderLeaseTTL: \(leaderLeaseSeconds)s\nstore: {backend: etcd, endpoints: "
                + "[\(etcd.endpoints.joined(separator: ", "))], prefix: bench/}"
            try rig.configure(coordinator: "c1", leaseTTL: "10s", extra: store)
            try rig.configure(coordinator: "c2", leaseTTL: "10s", extra: store)
            try rig.startCoordinator("c1")
            let leading = LatencyRig.poll(seconds: 20) {
                rig.decode(LeadershipJSON.self, from: "c1", "/v1/leadership")?.role == "leader"
            }
            guard leading != nil else { throw ValidationError("c1 never led: \(rig.coordinators["c1"]?.log ?? "")") }
            try rig.startCoordinator("c2")
            try rig.startAgents()
            let copied = LatencyRig.poll(seconds: 30) {
                rig.decode([VMSummaryJSON].self, from: "c2", "/v1/vms")?.count == 3
                    && rig.decode(LeadershipJSON.self, from: "c2", "/v1/leadership")?.role == "standby"
            }
            guard copied != nil else { throw ValidationError("the standby never had the agents' reports") }
            usleep(1_000_000)
            let killed = ContinuousClock.now
            rig.coordinators["c1"]?.stop(SIGKILL)
            var led: Double?
            var priority = "high"
            let written = LatencyRig.poll(seconds: 30, since: killed) {
                if led == nil, rig.decode(LeadershipJSON.self, from: "c2", "/v1/leadership")?.role == "leader" {
                    led = Double((ContinuousClock.now - killed).wholeMilliseconds) / 1000
                }
                priority = priority == "high" ? "low" : "high"
                return rig.request(
                    "c2",
                    "PUT",
                    "/v1/vms/vm-a/policy",
                    body: #"{"clear":false,"priority":"\#(priority)"}"#
                )?
                .status == 200
            }
            guard let written else {
                print("run \(run): no write accepted within 30 s")
                continue
            }
            writes.append(written)
            // Leading and writable in the same 10 ms poll: the write is the first sign.
            let leadAt = led ?? written
            leads.append(leadAt)
            let agentsFenced = rig.agents.values.filter { $0.log.contains("fencing this node") }.count
            fenced += agentsFenced
            print(
                String(format: "run %d: the standby led at %.3f s, accepted a write at %.3f s", run, leadAt, written)
                    + (agentsFenced > 0 ? "; \(agentsFenced) agent(s) fenced themselves" : "")
            )
        }
        print("SIGKILL to the standby leading: \(spread(leads))")
        print("SIGKILL to the standby accepting a write: \(spread(writes))")
        print("agents that fenced themselves during the takeovers: \(fenced)")
    }
}
