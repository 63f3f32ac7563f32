import ChainModel
import ClusterAPI
import ClusterStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOFoundationCompat
import Testing

@testable import Coordinator

/// Issue 20 item 2, and SPEC §6's rebuild: a coordinator restored from a backup taken before a migration lets the
/// node holding the higher epoch take its VM back during its first lease, and never after.
@Suite struct OwnershipRebuildTests {
    typealias Live = LiveCoordinator

    @Test func aBackupTakenBeforeAMigrationIsRebuiltFromTheAgentsForOneLease() async throws {
        let original = try Live()
        let backup = FileManager.default.temporaryDirectory.appendingPathComponent("backup-\(UUID().uuidString).sqlite")
        defer { try? FileManager.default.removeItem(at: backup) }
        try await original.test { client in
            for node in Live.nodes {
                let vms = node == "node1" ? [Live.vm("web01", node: node)] : []
                let report = Live.report(node, vms: vms, read: Live.nodes)
                #expect(try await Live.post(report, as: Live.agentToken(node), client: client).status == .ok)
            }
            let copy = try await Live.get("/v1/backup", client: client)
            #expect(copy.status == .ok)
            try Data(buffer: copy.body).write(to: backup)
        }
        // After the backup: web01 moves to node2 at epoch 2 (the journal's steps, as the Migrator writes them).
        let store = original.coordinator.store
        let now = original.coordinator.now()
        let record = try store.planMigration(
            vm: VMID("web01-id"),
            source: NodeName("node1"),
            target: NodeName("node2"),
            kind: .migration,
            requestedBy: "admin",
            at: now
        )
        for step: MigrationRecord.State in [.preflight, .sourceReleased, .targetAdopted] {
            try store.advanceMigration(record.id, to: step, detail: nil, at: now)
        }
        try store.commitMigration(record.id, at: now)
        #expect(try store.backupOrigin() == nil, "the live database is never marked")

        // The cluster database is lost; the administrator restores the backup (docs/operations.md).
        let restoredDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("chainkeeper-restored-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: restoredDirectory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: backup, to: restoredDirectory.appendingPathComponent("cluster.sqlite"))
        let restored = try Live(directory: restoredDirectory.path) { $0.leaseTTL = .seconds(3) }
        #expect(restored.coordinator.ownershipRebuildReason?.contains("restored from a backup") == true)
        #expect(try restored.coordinator.store.vm(id: VMID("web01-id"))?.owner == NodeName("node1"), "stale")
        try await restored.test { client in
            let beat = try await client.execute(
                uri: "/v1/agents/node2/heartbeat",
                method: .post,
                headers: [.authorization: "Bearer \(Live.agentToken("node2"))"],
                body: ByteBuffer(string: #"{"outbox": 0}"#)
            )
            let answer = try JSONDecoder().decode(HeartbeatAnswer.self, from: Data(buffer: beat.body))
            #expect(answer.reportWanted == true, "an agent that has not reported is asked to, at once")
            // node1 released web01 and leaves it out; node2 adopted it at epoch 2 and says so.
            var adopted = Live.vm("web01", node: "node2")
            adopted.epoch = 2
            for (node, vms) in [("node1", [ReportedVM]()), ("node2", [adopted])] {
                let report = Live.report(node, vms: vms, read: Live.nodes)
                #expect(try await Live.post(report, as: Live.agentToken(node), client: client).status == .ok)
            }
            let vm = try #require(try restored.coordinator.store.vm(id: VMID("web01-id")))
            #expect(vm.owner == NodeName("node2"))
            #expect(vm.ownership.epoch == Epoch(2))

            // After the first lease, a report never moves a VM again.
            try await Task.sleep(for: .seconds(3))
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            await restored.coordinator.failoverTick(logger: logger)
            #expect(try restored.coordinator.store.backupOrigin() == nil, "the mark is gone once the lease is over")
            var claim = Live.vm("web01", node: "node3")
            claim.epoch = 99
            let report = Live.report("node3", vms: [claim], read: Live.nodes)
            #expect(try await Live.post(report, as: Live.agentToken("node3"), client: client).status == .ok)
            #expect(try restored.coordinator.store.vm(id: VMID("web01-id"))?.owner == NodeName("node2"))
        }
        // A restart of the rebuilt database is an ordinary start.
        let again = try Live(directory: restoredDirectory.path)
        #expect(again.coordinator.ownershipRebuildReason == nil)
    }
}
