import ChainModel
import ClusterStore
import GRDB
import Testing

/// `vm_disk` (migration 019): whether a disk found on a volume is some VM's is one lookup of its key, a VM's disk rows
/// are found by its index, and a disk is listed once per VM.
@Suite struct FileIndexTests {
    func plan(_ sql: String, in temporary: TemporaryStore) throws -> String {
        try temporary.store.writer.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String }
                .joined(separator: "\n")
        }
    }

    @Test func everyLookupOfTheStoreUsesAnIndex() throws {
        let temporary = try TemporaryStore()
        // Whether a discovered disk is some VM's disk (`orphan-disk`).
        let orphans = try plan(
            """
            SELECT d.volume_id FROM discovered_disk d WHERE NOT EXISTS (
                SELECT 1 FROM vm_disk k WHERE k.volume_id = d.volume_id AND k.relative_path = d.relative_path
            )
            """,
            in: temporary
        )
        #expect(orphans.contains("USING PRIMARY KEY (volume_id=? AND relative_path=?)"), "\(orphans)")
        // A VM's disk rows, deleted when they change.
        let detail = try plan("DELETE FROM vm_disk WHERE vm_id = 'a'", in: temporary)
        #expect(detail.contains("INDEX vm_disk_vm (vm_id=?)"), "\(detail)")
    }

    @Test func aDiskIsListedOncePerVM() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let vm = TemporaryStore.branchedVM()
        try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)
        #expect(throws: DatabaseError.self) {
            try temporary.store.writer.write { db in
                try db.execute(sql: "INSERT INTO vm_disk SELECT * FROM vm_disk LIMIT 1")
            }
        }
    }

    @Test func aDiscoveredDiskIsSomeVMsOnlyWhenThatVMListsItAsADisk() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let vm = TemporaryStore.branchedVM()
        try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)
        // One discovered disk is the VM's current disk, the other its memory file's path.
        let disks = [vm.files[1], vm.files[6]].map { file -> DiscoveredDisk in
            guard case .volume(let volume, let relative) = file.location else { fatalError("on a volume") }
            return DiscoveredDisk(volume: volume, relativePath: relative, path: file.path, node: NodeName("node1"))
        }
        try temporary.store.recordDiscoveredDisks(of: NodeName("node1"), disks, at: TemporaryStore.now)
        let unused = try temporary.store.auditInputs().unusedDisks
        #expect(unused.map(\.relativePath) == [disks[1].relativePath])
    }
}
