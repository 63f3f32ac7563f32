import ChainModel
import Foundation
import GRDB

extension ClusterStore {
    /// Saves what an owner reported about a VM: its description, checkpoint tree, file set and disk chains, replacing
    /// the previous report in one transaction.
    ///
    /// A VM the cluster has not seen is registered with `vm.ownership`; for a known VM, owner and epoch are left alone,
    /// because only a committed migration or failover changes them (SPEC §6). If anything is refused, nothing of the
    /// new report is written and the previous one stays whole.
    public func saveInventory(of vm: VM, at now: Timestamp) throws(StoreError) {
        let document = try InventoryDocument(of: vm, digest: InventoryDigest.of(vm), reportKey: nil, at: now)
        try translatingErrors {
            try writer.write { db in try Self.writeInventory(document, in: db) }
        }
    }

    /// Writes `document`, replacing what the database holds of its VM; its `vm_disk` rows only when they changed
    /// (`storedDisksDigest` is the VM's `vm.disks_digest`).
    static func writeInventory(_ document: InventoryDocument, storedDisksDigest: String? = nil, in db: Database) throws
    {
        let volume = try db.cachedStatement(sql: "SELECT 1 FROM volume WHERE id = ?")
        for (id, path) in document.volumes where try Bool.fetchOne(volume, arguments: [id]) == nil {
            throw StoreError(
                .danglingReference,
                "file \(PrintableText.escape(path)) is on volume \(PrintableText.escape(id)), which no node has reported"
            )
        }
        let node = try db.cachedStatement(sql: "SELECT 1 FROM node WHERE name = ?")
        for (name, path) in document.nodes where try Bool.fetchOne(node, arguments: [name]) == nil {
            throw StoreError(
                .danglingReference,
                "file \(PrintableText.escape(path)) is on node \(PrintableText.escape(name)), which is not in the cluster"
            )
        }
        // Cached statements: a 1,000-VM report runs these thousands of times.
        try db.cachedStatement(
            sql: """
                INSERT INTO vm (id, name, owner, epoch, state, highly_available, memory_mib, registered_at,
                                inventory_at, inventory_digest, metadata_digest, next_files, merge_pending,
                                report_key, disks_digest)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET
                    name = excluded.name, state = excluded.state, highly_available = excluded.highly_available,
                    memory_mib = excluded.memory_mib, inventory_at = excluded.inventory_at,
                    inventory_digest = excluded.inventory_digest, metadata_digest = excluded.metadata_digest,
                    next_files = excluded.next_files, merge_pending = excluded.merge_pending,
                    report_key = excluded.report_key, disks_digest = excluded.disks_digest
                """
        ).execute(arguments: document.vm + [document.disksDigest])
        try db.cachedStatement(
            sql: """
                INSERT INTO vm_inventory (vm_id, body) VALUES (?, ?)
                ON CONFLICT(vm_id) DO UPDATE SET body = excluded.body
                """
        ).execute(arguments: [document.id, document.body])
        guard storedDisksDigest != document.disksDigest else { return }
        try db.cachedStatement(sql: "DELETE FROM vm_disk WHERE vm_id = ?").execute(arguments: [document.id])
        // A file set holds each location once (`InventoryDocument`), so each disk is one row.
        for chunk in document.disks {
            try db.cachedStatement(
                sql: "INSERT INTO vm_disk (volume_id, relative_path, vm_id) VALUES \(chunk.placeholders)"
            ).execute(arguments: chunk.arguments)
        }
    }

    /// One VM with its checkpoints, files and chains, or `nil` if the cluster does not know it.
    public func vm(id: VMID) throws(StoreError) -> VM? {
        try translatingErrors {
            try writer.read { db -> VM? in
                guard let row = try Row.fetchOne(db, sql: "SELECT * FROM vm WHERE id = ?", arguments: [id.rawValue])
                else { return nil }
                return try Self.loadVM(row, in: db)
            }
        }
    }

    /// VMs whose name is `name` (names are not unique in Hyper-V; ids are).
    public func vms(named name: String) throws(StoreError) -> [VM] {
        try translatingErrors {
            try writer.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM vm WHERE name = ? ORDER BY id", arguments: [name]).map {
                    try Self.loadVM($0, in: db)
                }
            }
        }
    }

    /// The conditions `loadVMs` reads with statements kept prepared.
    static let reusedConditions: Set<String> = ["v.id = ?", "v.owner = ?", "1"]

    static func loadVM(_ row: Row, in db: Database) throws -> VM {
        let id: String = row["id"]
        guard let vm = try loadVMs(where: "v.id = ?", arguments: [id], in: db).first else {
            throw StoreError(.danglingReference, "VM \(id) vanished while it was read")
        }
        return vm
    }

    /// The VMs matching `condition` (over `vm v`), each with its checkpoints, files and chains, in name order.
    ///
    /// One query, each VM's inventory one document (`StoredInventory`), columns read by position (GRDB lower-cases a
    /// column name on every lookup): this is what `snapshot()` and `whatif` pay for every VM they read. A document
    /// that does not read (only a hand edit makes one) leaves its VM with no checkpoints, files or chains and never
    /// stops the read; the owner's next report that changes the VM writes it again (an unchanged one does not).
    static func loadVMs(where condition: String, arguments: StatementArguments, in db: Database) throws -> [VM] {
        // Statements with one of the fixed conditions are prepared once per connection: a failover reads each of its
        // VMs by id, and preparing a statement each time was 4 % of the coordinator's CPU (issue 27). Conditions
        // with a list of ids vary in length and would fill the connection's cache.
        let sql = """
            SELECT v.id, v.name, v.owner, v.epoch, v.state, v.highly_available, v.memory_mib, v.metadata_digest,
                   m.digest, m.leaves, v.next_files, v.merge_pending, i.body
            FROM vm v LEFT JOIN vm_metadata m ON m.vm_id = v.id LEFT JOIN vm_inventory i ON i.vm_id = v.id
            WHERE \(condition) ORDER BY v.name, v.id
            """
        let statement =
            Self.reusedConditions.contains(condition)
            ? try db.cachedStatement(sql: sql) : try db.makeStatement(sql: sql)
        let decoder = JSONDecoder()
        var vms: [VM] = []
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try rows.next() {
            let id: String = row[0]
            let inventory = try row.withUnsafeData(atIndex: 12) { data in
                data.flatMap { try? decoder.decode(StoredInventory.self, from: $0) }
            }
            var vm = VM(
                id: VMID(id),
                name: row[1],
                ownership: Ownership(owner: NodeName(row[2] as String), epoch: Epoch(row[3] as Int64)),
                state: try RowDecoding.enumValue(PowerState.self, row, at: 4, named: "state"),
                highlyAvailable: row[5],
                memoryMiB: row[6],
                checkpoints: inventory?.checkpoints.map(\.checkpoint) ?? [],
                files: inventory?.files.map(\.file) ?? [],
                chains: inventory?.diskChains ?? [],
                metadata: (row[7] as String?).map { reported in
                    HypervisorMetadataState(
                        reportedDigest: reported,
                        heldDigest: row[8],
                        heldLeaves: Self.decodeLeaves(row[9])
                    )
                }
            )
            // A stored value that no longer decodes is read as none: it never stops the coordinator (the next
            // report writes it again).
            vm.nextFiles = NextFilesColumn.decode(row[10])
            vm.mergePending = row[11] as Bool? ?? false
            vms.append(vm)
        }
        return vms
    }
}
