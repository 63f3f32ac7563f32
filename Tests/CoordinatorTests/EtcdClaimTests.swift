import ChainModel
import ClusterEtcd
import ClusterStore
import ClusterTestSupport
import Foundation
import Logging
import Testing

@testable import Coordinator

/// An etcd leader claims the VMs its database registered, reading the whole database once a term and after that only
/// the VMs registered since the round before (at 80,000 VMs a scan every round took a fifth of a core), and a
/// migration of a VM etcd lacks claims it first.
@Suite struct EtcdClaimTests {
    @Test func aLeaderScansForClaimsOnlyAfterARegistrationAndAPlanClaimsWhatEtcdLacks() async throws {
        let etcd = try EtcdProcess()
        defer { etcd.kill() }
        let live = try LiveCoordinator {
            $0.store = .etcd(endpoints: [etcd.clientURL], prefix: "claims/")
            // Rounds run by hand here, not every quarter lease: a lease that outlasts a loaded machine's pauses.
            $0.leaderLeaseTTL = .seconds(120)
        }
        defer { try? FileManager.default.removeItem(atPath: live.directory) }
        let coordinator = live.coordinator
        let logger = Logger(label: "test")
        await coordinator.leadershipRound(logger: logger)
        try #require(coordinator.leadership.isLeader)
        let node1 = NodeName("node1")

        // node1 reports web01: registered in the coordinator's database, then claimed by the next round.
        func register(_ name: String) throws {
            let report = LiveCoordinator.report(
                "node1",
                vms: [LiveCoordinator.vm(name, node: "node1")],
                read: ["node1", "node2"]
            )
            let outcome = try ReportIngest(store: coordinator.store, probeWindow: .seconds(600))
                .ingest(report, at: coordinator.now())
            #expect(outcome.registered == 1)
        }
        try register("web01")
        let web01 = VMID("web01-id")
        #expect(try await coordinator.authority.owner(of: web01) == nil)
        await coordinator.leadershipRound(logger: logger)
        #expect(try await coordinator.authority.owner(of: web01) == Ownership(owner: node1, epoch: .initial))

        // etcd loses the record behind the coordinator's back. No VM was registered since the last scan, so no
        // round scans the database and claims it again...
        let client = EtcdClient(endpoints: [etcd.clientURL])
        #expect(try await client.delete("claims/vm/web01-id") == 1)
        let scans = coordinator.leadership.claimScans
        let reads = coordinator.leadership.claimReads
        #expect(scans == 1, "the term's first round read the whole database")
        #expect(reads == 1, "the round after web01's registration read web01 alone")
        await coordinator.leadershipRound(logger: logger)
        await coordinator.leadershipRound(logger: logger)
        #expect(coordinator.leadership.claimScans == scans, "rounds with no registration read nothing")
        #expect(coordinator.leadership.claimReads == reads, "rounds with no registration read nothing")
        #expect(try await coordinator.authority.owner(of: web01) == nil)

        // ...and a migration's plan claims it before planning: epoch 2 reserved, the owner on record kept.
        let record = try await coordinator.critical.planMigration(
            vm: web01,
            source: node1,
            target: NodeName("node2"),
            kind: .migration,
            requestedBy: "test",
            at: coordinator.now()
        )
        #expect(record.epoch == Epoch(2))
        #expect(try await coordinator.authority.owner(of: web01) == Ownership(owner: node1, epoch: .initial))

        // A new registration makes the next round read that VM, not the whole database.
        try register("web02")
        await coordinator.leadershipRound(logger: logger)
        #expect(coordinator.leadership.claimScans == scans)
        #expect(coordinator.leadership.claimReads == reads + 1)
        #expect(try await coordinator.authority.owner(of: VMID("web02-id")) == Ownership(owner: node1, epoch: .initial))

        // A new term (or a round that failed) reads the whole database once more, and then nothing while nothing
        // is registered.
        coordinator.leadership.forgetClaimScan()
        await coordinator.leadershipRound(logger: logger)
        await coordinator.leadershipRound(logger: logger)
        #expect(coordinator.leadership.claimScans == scans + 1)
        #expect(coordinator.leadership.claimReads == reads + 1)
    }
}
