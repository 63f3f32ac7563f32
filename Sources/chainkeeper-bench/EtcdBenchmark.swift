import ArgumentParser
import ChainModel
import ClusterAuthority
import ClusterEtcd
import ClusterStore
import ClusterTestSupport
import Foundation

/// The etcd backend at SPEC §9 scale (issue 8): one real etcd member on loopback, 8,000 VMs.
///
/// Times what moving a cluster to etcd costs (the seed), what a standby's copy of the critical state costs each second,
/// and one migration's five journal writes on etcd beside the same writes on the embedded SQLite store.
struct EtcdBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "etcd",
        abstract: "Time the etcd backend: seeding 8,000 VMs, a standby's copy, and a migration's journal writes."
    )

    @Option(help: "Nodes.") var nodes = 64
    @Option(help: "VMs in the cluster.") var vms = 8000
    @Option(help: "Migrations whose journal writes are timed on each backend.") var migrations = 50

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "chainkeeper-etcd-bench-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let now = Timestamp(secondsSinceEpoch: 1_800_000_000)
        let store = try ClusterStore(path: directory + "/cluster.sqlite")
        _ = try SpecCluster.load(into: store, nodes: nodes, vmsPerNode: vms / nodes, checkpoints: 2, at: now)
        let member = try EtcdProcess()
        let etcd = EtcdCoordinationStore(etcd: EtcdClient(endpoints: [member.clientURL]), prefix: "bench/")
        let me = LeaderInfo(name: "bench", url: "http://127.0.0.1:1")
        guard let term = try await etcd.campaign(as: me, ttl: .seconds(600), at: now) else {
            throw ValidationError("the benchmark's etcd member has a leader already")
        }
        print("etcd backend, \(vms) VMs on \(nodes) nodes, one etcd 3.4 member on loopback")

        let state = try CriticalState(of: store)
        let seed = try await timed { _ = try await etcd.seed(state, term: term) }
        print("seed (moving the cluster to etcd): \(format(seed)) for \(state.claims.count) VMs")

        var reads: [Duration] = []
        var copies: [Duration] = []
        var steady: [Duration] = []
        for _ in 0..<10 {
            reads.append(try await timed { _ = try await etcd.owners() })
            var revision: Int64 = 0
            copies.append(
                try await timed {
                    let all = try await etcd.changes(since: nil)
                    try store.applyAuthority(
                        owners: all.owners,
                        migrations: all.journal,
                        nodeStates: all.nodeStates,
                        policies: all.policies
                    )
                    revision = all.revision
                }
            )
            // What a standby does every second once it has a copy: read what changed (one policy here), apply it.
            try await etcd.savePolicy(PlacementPolicy(priority: .high), for: VMID("vm-0"), term: term)
            steady.append(
                try await timed {
                    let changed = try await etcd.changes(since: revision)
                    try store.applyAuthority(
                        owners: changed.owners,
                        migrations: changed.journal,
                        nodeStates: changed.nodeStates,
                        policies: changed.policies
                    )
                }
            )
        }
        print("owners() of every VM: median \(format(median(reads)))")
        print("a coordinator's first copy (read all of etcd, apply to SQLite): median \(format(median(copies)))")
        print("a standby's copy each second after one change: median \(format(median(steady)))")

        let embedded = EmbeddedCoordinationStore(store: store)
        guard let local = try embedded.campaign(as: me, ttl: .seconds(600), at: now) else {
            throw ValidationError("the benchmark's database has a leader already")
        }
        for (name, authority, leader) in [("embedded", embedded as any CoordinationStore, local), ("etcd", etcd, term)]
        {
            let owners = try await authority.owners()
            let chosen = owners.keys.sorted { $0.rawValue < $1.rawValue }.prefix(migrations)
            var cycles: [Duration] = []
            for vm in chosen {
                guard let owner = owners[vm]?.owner else { continue }
                let target = NodeName(owner == NodeName("node0") ? "node1" : "node0")
                cycles.append(
                    try await timed {
                        let record = try await authority.planMigration(
                            vm: vm,
                            source: owner,
                            target: target,
                            kind: .migration,
                            requestedBy: "bench",
                            at: now,
                            term: leader
                        )
                        for step in [MigrationRecord.State.preflight, .sourceReleased, .targetAdopted] {
                            try await authority.advanceMigration(
                                record.id,
                                to: step,
                                detail: nil,
                                at: now,
                                term: leader
                            )
                        }
                        try await authority.commitMigration(record.id, at: now, term: leader)
                    }
                )
            }
            print(
                "\(name): a migration's five journal writes (plan, three steps, commit): median \(format(median(cycles)))"
            )
        }
    }

    func timed(_ body: () async throws -> Void) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        try await body()
        return clock.now - start
    }

    func median(_ values: [Duration]) -> Duration { values.sorted()[values.count / 2] }

    func format(_ duration: Duration) -> String {
        let milliseconds = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return String(format: "%.1f ms", milliseconds)
    }
}
