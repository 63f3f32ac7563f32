import ChainModel
import GRDB

extension ClusterStore {
    /// Saves what an owner reported about a VM: its description, checkpoint tree, file set and disk chains, replacing
    /// the previous report in one transaction.
    ///
    /// A VM the cluster has not seen is registered with `vm.ownership`; for a known VM, owner and epoch are left alone,
    /// because only a committed migration or failover changes them (SPEC §6). If anything is refused, nothing of the
    /// new report is written and the previous one stays whole.
    public func saveInventory(of vm: VM, at now: Timestamp) throws(StoreError) {
        let rows = try InventoryRows(of: vm, digest: InventoryDigest.of(vm), reportKey: nil, at: now)
        try translatingErrors {
            try writer.write { db in try Self.writeInventory(rows, in: db) }
        }
    }

    /// Writes `rows`, replacing what the database holds of their VM.
    static func writeInventory(_ rows: InventoryRows, storedShape: String? = nil, in db: Database) throws {
        let id = rows.id
        // Cached statements: a 1,000-VM report runs these thousands of times.
        try db.cachedStatement(
            sql: """
                INSERT INTO vm (id, name, owner, epoch, state, highly_available, memory_mib, registered_at,
                                inventory_at, inventory_digest, metadata_digest, next_files, merge_pending,
                                report_key, inventory_shape)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET
                    name = excluded.name, state = excluded.state, highly_available = excluded.highly_available,
                    memory_mib = excluded.memory_mib, inventory_at = excluded.inventory_at,
                    inventory_digest = excluded.inventory_digest, metadata_digest = excluded.metadata_digest,
                    next_files = excluded.next_files, merge_pending = excluded.merge_pending,
                    report_key = excluded.report_key, inventory_shape = excluded.inventory_shape
                """
        ).execute(arguments: rows.vm + [rows.shape])
        if storedShape == rows.shape, try updateAttributes(of: rows, in: db) { return }
        // Children before parents would break the parent foreign key; files and chains reference
        // checkpoints, so they go first.
        try db.cachedStatement(sql: "DELETE FROM disk_chain WHERE vm_id = ?").execute(arguments: [id])
        try db.cachedStatement(sql: "DELETE FROM file WHERE vm_id = ?").execute(arguments: [id])
        try db.cachedStatement(sql: "DELETE FROM checkpoint WHERE vm_id = ?").execute(arguments: [id])

        // Rows go in as multi-row INSERTs: per-statement overhead, not SQLite's B-trees, dominated a 1,000-VM report
        // when each row was its own statement.
        for chunk in rows.checkpoints {
            try insert(into: "checkpoint (vm_id, id, name, parent_id, created_at)", chunk, in: db)
        }
        // SQLite gives each file the id one above the largest, in insertion order; checked below, since chains and
        // links name files by those ids.
        let firstFileID = try Int64.fetchOne(db.cachedStatement(sql: "SELECT coalesce(max(id), 0) + 1 FROM file")) ?? 1
        for chunk in rows.files {
            try insert(
                into: """
                    file (vm_id, volume_id, relative_path, node, path, kind, format, size, identifier, checkpoint_id,
                          problem, problem_detail)
                    """,
                chunk,
                in: db
            )
        }
        if rows.fileCount > 0, db.lastInsertedRowID != firstFileID + Int64(rows.fileCount) - 1 {
            throw StoreError(
                .invalidInventory,
                "the files of \(id) did not get consecutive ids; the file table's ids are exhausted"
            )
        }
        let chains = rows.chains.flatMap { chain -> [DatabaseValue] in
            [
                id.databaseValue, chain.checkpoint?.databaseValue ?? .null, chain.position.databaseValue,
                (firstFileID + Int64(chain.leaf)).databaseValue,
            ]
        }
        for chunk in InventoryRows.chunks(of: chains, columns: 4) {
            try insert(into: "disk_chain (vm_id, checkpoint_id, position, leaf_file_id)", chunk, in: db)
        }
        let links = rows.links.flatMap { link -> [DatabaseValue] in
            [(firstFileID + Int64(link.child)).databaseValue, (firstFileID + Int64(link.parent)).databaseValue]
        }
        for chunk in InventoryRows.chunks(of: links, columns: 2) {
            try insert(into: "disk_chain_link (child_file_id, parent_file_id)", chunk, in: db)
        }
    }

    /// The fast way of `writeInventory`, when the stored rows have the shape of `rows`.
    ///
    /// The file rows whose format, size, identifier or problem differ are updated in place; nothing else is written.
    /// `false` (nothing written) when the VM's stored files are not `rows`' count.
    private static func updateAttributes(of rows: InventoryRows, in db: Database) throws -> Bool {
        let columns = InventoryRows.attributeColumns
        let stored = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT id, format, size, identifier, problem, problem_detail FROM file WHERE vm_id = ? ORDER BY id
                    """
            ),
            arguments: [rows.id]
        )
        guard stored.count == rows.fileCount, rows.attributes.count == stored.count * columns else { return false }
        let update = try db.cachedStatement(
            sql: "UPDATE file SET format = ?, size = ?, identifier = ?, problem = ?, problem_detail = ? WHERE id = ?"
        )
        for (index, row) in stored.enumerated() {
            let new = rows.attributes[(index * columns)..<((index + 1) * columns)]
            guard (0..<columns).contains(where: { row[$0 + 1] as DatabaseValue != new[new.startIndex + $0] }) else {
                continue
            }
            try update.execute(arguments: StatementArguments(new) + [row[0] as DatabaseValue])
        }
        return true
    }

    /// One multi-row `INSERT` into `target`, its statement cached by its shape.
    private static func insert(into target: String, _ chunk: InventoryRows.Chunk, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO \(target) VALUES \(chunk.placeholders)").execute(
            arguments: chunk.arguments
        )
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
    /// One query per table for all of them, not four per VM, and columns read by position (GRDB lower-cases a column
    /// name on every lookup): this is what `snapshot()` and `whatif` pay for every VM they read.
    static func loadVMs(where condition: String, arguments: StatementArguments, in db: Database) throws -> [VM] {
        // Statements with one of the fixed conditions are prepared once per connection: a failover reads each of its
        // VMs by id, and preparing five statements each time was 4 % of the coordinator's CPU (issue 27). Conditions
        // with a list of ids vary in length and would fill the connection's cache.
        let reused = Self.reusedConditions.contains(condition)
        func statement(_ sql: String) throws -> Statement {
            reused ? try db.cachedStatement(sql: sql) : try db.makeStatement(sql: sql)
        }
        var checkpoints: [String: [Checkpoint]] = [:]
        let checkpointRows = try Row.fetchCursor(
            statement(
                """
                SELECT c.vm_id, c.id, c.name, c.parent_id, c.created_at FROM checkpoint c JOIN vm v ON v.id = c.vm_id
                WHERE \(condition) ORDER BY c.vm_id, c.id
                """
            ),
            arguments: arguments
        )
        while let row = try checkpointRows.next() {
            checkpoints[row[0], default: []].append(
                Checkpoint(
                    id: CheckpointID(row[1] as String),
                    name: row[2],
                    parent: (row[3] as String?).map(CheckpointID.init(rawValue:)),
                    created: (row[4] as Int64?).map { Timestamp(millisecondsSinceEpoch: $0) }
                )
            )
        }
        var files: [String: [VMFile]] = [:]
        var locations: [Int64: FileLocation] = [:]
        let fileRows = try Row.fetchCursor(
            statement(
                """
                SELECT f.vm_id, f.id, f.volume_id, f.relative_path, f.node, f.path, f.kind, f.format, f.size,
                       f.identifier, f.checkpoint_id, f.problem, f.problem_detail
                FROM file f JOIN vm v ON v.id = f.vm_id WHERE \(condition) ORDER BY f.vm_id, f.id
                """
            ),
            arguments: arguments
        )
        while let row = try fileRows.next() {
            let location: FileLocation
            if let volume: String = row[2], let relative: String = row[3] {
                location = .volume(VolumeID(volume), relativePath: relative)
            } else {
                location = .nodeLocal(NodeName(row[4] as String), absolutePath: row[5])
            }
            locations[row[1]] = location
            files[row[0], default: []].append(
                VMFile(
                    location: location,
                    path: row[5],
                    kind: try RowDecoding.enumValue(FileKind.self, row, at: 6, named: "kind"),
                    format: try RowDecoding.optionalEnum(DiskFormat.self, row, at: 7, named: "format"),
                    size: row[8],
                    identifier: row[9],
                    checkpoint: (row[10] as String?).map(CheckpointID.init(rawValue:)),
                    problem: try RowDecoding.optionalEnum(FileProblem.self, row, at: 11, named: "problem"),
                    problemDetail: row[12]
                )
            )
        }
        var parents: [Int64: Int64] = [:]
        let linkRows = try Row.fetchCursor(
            statement(
                """
                SELECT l.child_file_id, l.parent_file_id FROM disk_chain_link l
                JOIN file f ON f.id = l.child_file_id JOIN vm v ON v.id = f.vm_id WHERE \(condition)
                """
            ),
            arguments: arguments
        )
        while let row = try linkRows.next() { parents[row[0]] = row[1] }
        var chains: [String: [DiskChain]] = [:]
        let chainRows = try Row.fetchCursor(
            statement(
                """
                SELECT d.vm_id, d.checkpoint_id, d.leaf_file_id FROM disk_chain d JOIN vm v ON v.id = d.vm_id
                WHERE \(condition) ORDER BY d.vm_id, d.position
                """
            ),
            arguments: arguments
        )
        while let row = try chainRows.next() {
            var elements: [FileLocation] = []
            var visited = Set<Int64>()
            var cursor: Int64? = row[2]
            while let fileID = cursor, visited.insert(fileID).inserted, let location = locations[fileID] {
                elements.append(location)
                cursor = parents[fileID]
            }
            chains[row[0], default: []].append(
                DiskChain(checkpoint: (row[1] as String?).map(CheckpointID.init(rawValue:)), elements: elements)
            )
        }
        return try Row.fetchAll(
            statement(
                """
                SELECT v.id, v.name, v.owner, v.epoch, v.state, v.highly_available, v.memory_mib, v.metadata_digest,
                       m.digest, m.leaves, v.next_files, v.merge_pending
                FROM vm v LEFT JOIN vm_metadata m ON m.vm_id = v.id
                WHERE \(condition) ORDER BY v.name, v.id
                """
            ),
            arguments: arguments
        ).map { row in
            let id: String = row[0]
            var vm = VM(
                id: VMID(id),
                name: row[1],
                ownership: Ownership(owner: NodeName(row[2] as String), epoch: Epoch(row[3] as Int64)),
                state: try RowDecoding.enumValue(PowerState.self, row, at: 4, named: "state"),
                highlyAvailable: row[5],
                memoryMiB: row[6],
                checkpoints: checkpoints[id] ?? [],
                files: files[id] ?? [],
                chains: chains[id] ?? [],
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
            return vm
        }
    }
}
