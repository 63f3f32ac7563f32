import ChainModel
import ClusterStore
import ClusterTestSupport
import Foundation
import Logging
import Testing

@testable import Coordinator

/// Issue 27: taking over a large cluster on a fresh etcd (the seed reads every VM's key and writes 50 a transaction)
/// outlasts the leader lease; the coordinator renews its lease meanwhile and leads under the term it won, where before
/// the term ran out mid-seed and the takeover failed (at 80,000 VMs it campaigned some 25 times before leading).
@Suite struct EtcdTakeoverTests {
    @Test func aTakeoverLongerThanTheLeaderLeaseKeepsItsTerm() async throws {
        let etcd = try EtcdProcess()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ck-takeover-\(UUID().uuidString)"
        )
        .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = CoordinatorConfig(dataDir: directory)
        config.store = .etcd(endpoints: [etcd.clientURL], prefix: "takeover/")
        // The default lease, and a seed of several leases: beside the whole suite on two cores a renewal can be late.
        config.leaderLeaseTTL = .seconds(3)
        let coordinator = try Coordinator(config: config)
        let now = Coordinator.wallClock()
        let node = NodeName("node1")
        let count = 4000
        let vms = (0..<count).map {
            VM(id: VMID("vm-\($0)"), name: "vm-\($0)", ownership: Ownership(owner: node, epoch: .initial))
        }
        _ = try coordinator.store.ingest(
            ReportBatch(
                node: node,
                driver: .hypervJSON,
                memoryMiB: nil,
                volumes: [],
                vms: vms,
                listed: vms.map(\.id),
                inventoryErrors: [],
                discoveredDisks: [],
                probeWindow: .seconds(600)
            ),
            at: now
        )
        var logger = Logger(label: "test")
        logger.logLevel = .critical

        let term = try #require(
            try await coordinator.authority.campaign(
                as: coordinator.leadership.me,
                ttl: config.leadershipLease,
                at: now
            )
        )
        let started = ContinuousClock.now
        try await coordinator.becomeLeader(term, logger: logger)
        let took = ContinuousClock.now - started
        // Only meaningful if the takeover outlasted the lease (without the renewal it fails with not-leader).
        #expect(took > config.leadershipLease, "the seed took \(took)")
        // Still the leader under the term it won, with every VM in etcd.
        try await coordinator.authority.renew(term, ttl: config.leadershipLease, at: Coordinator.wallClock())
        #expect(coordinator.leadership.term == term)
        #expect(try await coordinator.authority.owners().count == count)
    }
}
