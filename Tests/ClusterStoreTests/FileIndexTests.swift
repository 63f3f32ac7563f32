import ChainModel
import ClusterStore
import GRDB
import Testing

/// The file table's indexes after migration 017: every lookup the store makes still finds its index, and a location
/// is still unique per VM.
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
                SELECT 1 FROM file f
                WHERE f.kind = 'disk' AND f.volume_id = d.volume_id AND f.relative_path = d.relative_path
            )
            """,
            in: temporary
        )
        #expect(orphans.contains("USING INDEX file_disk_on_volume"), "\(orphans)")
        // The foreign key to `checkpoint`, checked when a VM's checkpoints are replaced, and a VM's files.
        for sql in [
            "SELECT 1 FROM file WHERE vm_id = 'a' AND checkpoint_id = 'b'", "SELECT id FROM file WHERE vm_id = 'a'",
        ] {
            let detail = try plan(sql, in: temporary)
            #expect(detail.contains("INDEX file_checkpoint (vm_id=?"), "\(sql): \(detail)")
            #expect(!detail.contains("SCAN file"), "\(sql): \(detail)")
        }
    }

    @Test func aLocationIsUniquePerVMAndNodeLocalFilesAreNot() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let vm = TemporaryStore.branchedVM()
        try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)
        let id = vm.id.rawValue
        #expect(throws: DatabaseError.self) {
            try temporary.store.writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO file (vm_id, volume_id, relative_path, path, kind)
                        SELECT vm_id, volume_id, relative_path, path, kind FROM file WHERE vm_id = ? LIMIT 1
                        """,
                    arguments: [id]
                )
            }
        }
        try temporary.store.writer.write { db in
            for path in ["/srv/a.vmrs", "/srv/b.vmrs"] {
                try db.execute(
                    sql: "INSERT INTO file (vm_id, node, path, kind) VALUES (?, 'node1', ?, 'memory')",
                    arguments: [id, path]
                )
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
