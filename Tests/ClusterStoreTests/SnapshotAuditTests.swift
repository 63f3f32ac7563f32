import ChainModel
import ClusterStore
import DecisionEngine
import GRDB
import Testing

/// The audit over a real cluster database: what the store reads back is what the engine judges.
@Suite struct SnapshotAuditTests {
    static let nodes = ["node1", "node2", "node3"]

    func seeded() throws -> TemporaryStore {
        let temporary = try TemporaryStore()
        let store = temporary.store
        let now = TemporaryStore.now
        for name in Self.nodes {
            var node = Node(name: NodeName(name), memoryMiB: 16_384)
            node.lastInventoryAt = now
            try store.saveNode(node, at: now)
        }
        try store.saveVolume(Volume(id: TemporaryStore.csv1, name: "csv1"), at: now)
        for name in Self.nodes {
            try store.saveMount(
                VolumeMount(
                    volume: TemporaryStore.csv1,
                    node: NodeName(name),
                    mountPath: "/mnt/csv1",
                    lastProbeAt: now
                ),
                at: now
            )
            let local = VolumeID("local-\(name)")
            try store.saveVolume(Volume(id: local, name: "\(name)-local"), at: now)
            try store.saveMount(
                VolumeMount(volume: local, node: NodeName(name), mountPath: "/srv/local", lastProbeAt: now),
                at: now
            )
        }
        return temporary
    }

    @Test func auditOfTheStoredClusterFindsTheStrandedVMs() throws {
        let temporary = try seeded()
        let store = temporary.store
        let now = TemporaryStore.now
        let web = TemporaryStore.branchedVM(name: "web01", id: "web01-id")
        var db = TemporaryStore.branchedVM(name: "db01", id: "db01-id")
        let memory = try #require(db.files.firstIndex { $0.kind == .memory })
        db.files[memory].location = .volume(VolumeID("local-node1"), relativePath: "db01/upgrade.vmrs")
        db.files[memory].path = "/srv/local/db01/upgrade.vmrs"
        var old = TemporaryStore.branchedVM(name: "old01", id: "old01-id")
        old.files[4].problem = .missing
        for vm in [web, db, old] { try store.saveInventory(of: vm, at: now) }
        try store.saveListings(of: NodeName("node1"), vms: [web.id, db.id, old.id], at: now)
        try store.saveListings(of: NodeName("node2"), vms: [web.id], at: now)
        try store.saveInventoryErrors(
            of: NodeName("node3"),
            [InventoryError(node: NodeName("node3"), vm: "broken01", message: "disks is not an array")],
            at: now
        )

        let snapshot = try store.snapshot()
        #expect(snapshot.vms.map(\.name) == ["db01", "old01", "web01"])
        let view = ClusterView(snapshot, now: now)
        let risks = ClusterAudit.risks(in: view, AuditInput(snapshot))
        #expect(ClusterAudit.strandedVMs(risks) == [db.id, old.id, web.id])
        let summary = risks.map { "\($0.code.rawValue) \($0.vm ?? "-") \($0.path ?? $0.node?.rawValue ?? "")" }
        #expect(
            summary == [
                "file-on-local-volume db01 /srv/local/db01/upgrade.vmrs",
                "file-missing old01 /mnt/csv1/old01/disk.vhdx",
                "registered-on-non-owner web01 node2",
                "inventory-error broken01 node3",
            ]
        )
    }

    @Test func policiesAndClassesRoundTripAndChangeTheVerdict() throws {
        let temporary = try seeded()
        let store = temporary.store
        let vm = TemporaryStore.branchedVM(name: "web01", id: "web01-id")
        try store.saveInventory(of: vm, at: TemporaryStore.now)
        let policy = PlacementPolicy(
            highlyAvailable: true,
            possibleOwners: [NodeName("node1"), NodeName("node3")],
            preferredOwners: [NodeName("node3")],
            antiAffinityClass: "web",
            priority: .high,
            threshold: FailoverThreshold(maxFailovers: 2, period: .seconds(3600))
        )
        try store.savePolicy(policy, for: vm.id)
        try store.saveClass(AntiAffinityClass(name: "web", enforced: true))
        let snapshot = try store.snapshot()
        #expect(snapshot.policies[vm.id] == policy)
        #expect(snapshot.classes == [AntiAffinityClass(name: "web", enforced: true)])
        let view = ClusterView(snapshot, now: TemporaryStore.now)
        #expect(StrandRule.check(vm, to: NodeName("node2"), in: view).codes == [.targetNotEligible])
        #expect(TargetRanking.best(vm, in: view)?.node == NodeName("node3"))
    }
}

@Suite struct ReportBatchTests {
    @Test func aRefusedVMIsRolledBackAloneAndTheRestOfTheReportLands() throws {
        let temporary = try TemporaryStore()
        let now = TemporaryStore.now
        let csv1 = VolumeReport(
            volume: Volume(id: TemporaryStore.csv1, name: "csv1"),
            mountPath: "/mnt/csv1",
            filesystemType: "nfs4",
            probeWritten: "nonce-0001",
            probeRead: []
        )
        let good = TemporaryStore.branchedVM(name: "web01", id: "web01-id")
        var bad = TemporaryStore.branchedVM(name: "db01", id: "db01-id")
        bad.files[0].checkpoint = CheckpointID("no-such-checkpoint")  // refused: the VM has no such checkpoint
        let batch = ReportBatch(
            node: NodeName("node1"),
            driver: .hypervJSON,
            memoryMiB: 8192,
            volumes: [csv1],
            vms: [good, bad],
            listed: [good.id, bad.id],
            inventoryErrors: [InventoryError(node: NodeName("node1"), vm: "x01", message: "agent could not read it")],
            discoveredDisks: [
                DiscoveredDisk(
                    volume: TemporaryStore.csv1,
                    relativePath: "stray.avhdx",
                    path: "/mnt/csv1/stray.avhdx",
                    node: NodeName("node1")
                )
            ],
            probeWindow: .seconds(600)
        )
        let outcome = try temporary.store.ingest(batch, at: now)
        #expect(outcome.registered == 1)
        #expect(outcome.errors == 2)
        let snapshot = try temporary.store.snapshot()
        #expect(snapshot.vms.map(\.name) == ["web01"])
        #expect(snapshot.vms.first?.files.count == good.files.count)
        #expect(snapshot.inventoryErrors.map(\.vm) == ["x01", "db01"])
        #expect(snapshot.listings[good.id] == [NodeName("node1")])
        #expect(snapshot.listings[bad.id] == nil, "an unregistered VM has no listing")
        #expect(snapshot.discoveredDisks.map(\.relativePath) == ["stray.avhdx"])
        #expect(snapshot.nodes.map(\.name) == [NodeName("node1")])
        #expect(snapshot.mounts.first?.lastProbeAt == nil, "its own nonce is read back only next time")

        var second = batch
        second.volumes[0].probeRead = ["nonce-0001"]
        second.vms = [good]
        _ = try temporary.store.ingest(second, at: now + .seconds(60))
        #expect(try temporary.store.snapshot().mounts.first?.lastProbeAt == now + .seconds(60))
    }

    @Test func anUnchangedVMIsOnlyTouchedAndAChangedOneIsRewritten() throws {
        let temporary = try TemporaryStore()
        let now = TemporaryStore.now
        let csv1 = VolumeReport(
            volume: Volume(id: TemporaryStore.csv1, name: "csv1"),
            mountPath: "/mnt/csv1",
            filesystemType: nil,
            probeWritten: nil,
            probeRead: []
        )
        let web = TemporaryStore.branchedVM(name: "web01", id: "web01-id")
        let db = TemporaryStore.branchedVM(name: "db01", id: "db01-id")
        var batch = ReportBatch(
            node: NodeName("node1"),
            driver: .hypervJSON,
            memoryMiB: 8192,
            volumes: [csv1],
            vms: [web, db],
            listed: [web.id, db.id],
            inventoryErrors: [],
            discoveredDisks: [],
            probeWindow: .seconds(600)
        )
        #expect(try temporary.store.ingest(batch, at: now).registered == 2)
        // Records the VM of every document written from here on.
        try temporary.store.writer.write { db in
            try db.execute(
                sql: """
                    CREATE TEMP TABLE written (vm_id TEXT);
                    CREATE TEMP TRIGGER document_written AFTER UPDATE ON main.vm_inventory
                    BEGIN INSERT INTO written VALUES (NEW.vm_id); END;
                    """
            )
        }

        var changed = db
        changed.files[1].size += 4096
        batch.vms = [web, changed]
        let outcome = try temporary.store.ingest(batch, at: now + .seconds(60))
        #expect(outcome.unchanged == 1)
        #expect(outcome.updated == 1)
        let written = try temporary.store.writer.write { db in try String.fetchAll(db, sql: "SELECT vm_id FROM written")
        }
        #expect(written == ["db01-id"], "an unchanged VM's document is not rewritten")
        let snapshot = try temporary.store.snapshot()
        #expect(snapshot.vms.first { $0.id == web.id }.map { $0.files == web.files } == true)
        #expect(snapshot.vms.first { $0.id == db.id }?.files[1].size == changed.files[1].size)
        let times = try temporary.store.writer.read { db in
            try Int64.fetchAll(db, sql: "SELECT inventory_at FROM vm ORDER BY id")
        }
        #expect(times == [(now + .seconds(60)).millisecondsSinceEpoch, (now + .seconds(60)).millisecondsSinceEpoch])
    }
}
