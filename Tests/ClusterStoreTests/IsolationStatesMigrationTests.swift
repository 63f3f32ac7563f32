import ChainModel
import ClusterStore
import Foundation
import GRDB
import Testing

/// Migration 010 rebuilds the `node` table (SQLite cannot change a CHECK constraint): a database made by the previous
/// release keeps every node, mount and VM through it, and takes the new states afterwards; migration 011 gives every
/// stored policy the default isolation response.
@Suite struct IsolationStatesMigrationTests {
    @Test func aDatabaseFromTheReleaseBeforeKeepsItsRowsAndTakesTheNewStates() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ck-010-\(UUID().uuidString).sqlite")
            .path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        do {
            let pool = try DatabasePool(path: path)
            try ClusterStore.migrator.migrate(pool, upTo: "009-volume-naming")
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO node (name, state, registered_at) VALUES ('node1', 'draining', 1), ('node2', 'up', 1);
                        INSERT INTO volume (id, name, first_seen_at) VALUES ('csv1', 'csv1', 1);
                        INSERT INTO volume_mount (volume_id, node, mount_path, reported_at)
                            VALUES ('csv1', 'node1', '/mnt/csv1', 1), ('csv1', 'node2', '/mnt/csv1', 1);
                        INSERT INTO vm (id, name, owner, epoch, state, highly_available, registered_at)
                            VALUES ('web1-id', 'web1', 'node1', 3, 'Running', 1, 1);
                        INSERT INTO placement_policy (vm_id, priority, max_failovers) VALUES ('web1-id', 'high', 5);
                        """
                )
            }
        }
        let store = try ClusterStore(path: path)
        let nodes = try store.nodes()
        #expect(nodes.map(\.name) == [NodeName("node1"), NodeName("node2")])
        #expect(nodes.map(\.state) == [.draining, .up])
        #expect(try store.vm(id: VMID("web1-id"))?.ownership == Ownership(owner: NodeName("node1"), epoch: Epoch(3)))
        #expect(try store.snapshot().mounts.count == 2, "no mount was deleted by the rebuild")
        // Migration 011: a stored policy keeps its values and takes the default isolation response.
        let policy = try #require(try store.policy(for: VMID("web1-id")))
        #expect(policy.priority == .high && policy.threshold.maxFailovers == 5 && policy.isolation == .keepRunning)
        var stopping = policy
        stopping.isolation = .stop
        try store.savePolicy(stopping, for: VMID("web1-id"))
        #expect(try store.policy(for: VMID("web1-id"))?.isolation == .stop)
        #expect(try store.isolationStopVMs() == [NodeName("node1"): [VMID("web1-id")]])
        for state in [NodeState.isolated, .quarantined] {
            try store.setNodeState(
                NodeName("node2"),
                to: state,
                because: "test",
                actor: "test",
                at: Timestamp(secondsSinceEpoch: 2)
            )
            #expect(try store.node(named: NodeName("node2"))?.state == state)
        }
    }
}
