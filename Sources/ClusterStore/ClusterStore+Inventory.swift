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
        let order: [Checkpoint]
        do {
            order = try CheckpointTree(vm.checkpoints).depthFirst().map(\.checkpoint)
        } catch {
            throw StoreError(error)
        }
        try translatingErrors {
            try writer.write { db in try Self.writeInventory(of: vm, checkpointsInOrder: order, at: now, in: db) }
        }
    }

    static func writeInventory(
        of vm: VM,
        checkpointsInOrder checkpoints: [Checkpoint],
        at now: Timestamp,
        in db: Database
    ) throws {
        let id = vm.id.rawValue
        // Cached statements: a 1,000-VM report runs these 4,000 times.
        try db.cachedStatement(
            sql: """
                INSERT INTO vm (id, name, owner, epoch, state, highly_available, memory_mib, registered_at,
                                inventory_at, inventory_digest)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET
                    name = excluded.name, state = excluded.state, highly_available = excluded.highly_available,
                    memory_mib = excluded.memory_mib, inventory_at = excluded.inventory_at,
                    inventory_digest = excluded.inventory_digest
                """
        ).execute(arguments: [
            id, vm.name, vm.owner.rawValue, vm.ownership.epoch.rawValue, vm.state.rawValue,
            vm.highlyAvailable, vm.memoryMiB, now.databaseValue, now.databaseValue, InventoryDigest.of(vm),
        ])
        // Children before parents would break the parent foreign key; files and chains reference
        // checkpoints, so they go first.
        try db.cachedStatement(sql: "DELETE FROM disk_chain WHERE vm_id = ?").execute(arguments: [id])
        try db.cachedStatement(sql: "DELETE FROM file WHERE vm_id = ?").execute(arguments: [id])
        try db.cachedStatement(sql: "DELETE FROM checkpoint WHERE vm_id = ?").execute(arguments: [id])

        // Rows go in as multi-row INSERTs (one statement per table and VM): per-statement overhead, not SQLite's
        // B-trees, dominated a 1,000-VM report when each row was its own statement.
        try insertRows(
            into: "checkpoint (vm_id, id, name, parent_id, created_at)",
            columns: 5,
            rows: checkpoints.map { checkpoint in
                [
                    id, checkpoint.id.rawValue, checkpoint.name, checkpoint.parent?.rawValue,
                    checkpoint.created?.databaseValue,
                ]
            },
            in: db
        )

        // File ids are assigned here, so that chains can name them without reading them back.
        var nextFileID = try Int64.fetchOne(db.cachedStatement(sql: "SELECT coalesce(max(id), 0) + 1 FROM file")) ?? 1
        var fileIDs: [FileLocation: Int64] = [:]
        var fileRows: [[(any DatabaseValueConvertible)?]] = []
        for file in vm.files where fileIDs[file.location] == nil {
            var volumeID: String?
            var relativePath: String?
            var node: String?
            switch file.location {
            case .volume(let volume, let path):
                volumeID = volume.rawValue
                relativePath = path
            case .nodeLocal(let name, _):
                node = name.rawValue
            }
            fileIDs[file.location] = nextFileID
            fileRows.append([
                nextFileID, id, volumeID, relativePath, node, file.path, file.kind.rawValue, file.format?.rawValue,
                file.size, file.identifier, file.checkpoint?.rawValue, file.problem?.rawValue, file.problemDetail,
            ])
            nextFileID += 1
        }
        try insertRows(
            into: """
                file (id, vm_id, volume_id, relative_path, node, path, kind, format, size, identifier, checkpoint_id,
                      problem, problem_detail)
                """,
            columns: 13,
            rows: fileRows,
            in: db
        )

        var chainRows: [[(any DatabaseValueConvertible)?]] = []
        var linkRows: [[(any DatabaseValueConvertible)?]] = []
        var linked = Set<Int64>()
        for (position, chain) in vm.chains.enumerated() {
            let ids = try chain.elements.map { location in
                guard let fileID = fileIDs[location] else {
                    throw StoreError(
                        .invalidInventory,
                        "a disk chain of \(vm.name) names \(location.key), which is not in the VM's file set"
                    )
                }
                return fileID
            }
            guard let leaf = ids.first else { continue }
            chainRows.append([id, chain.checkpoint?.rawValue, position, leaf])
            // A disk has one parent: the first chain through it says which.
            for (child, parent) in zip(ids, ids.dropFirst()) where child != parent && linked.insert(child).inserted {
                linkRows.append([child, parent])
            }
        }
        try insertRows(
            into: "disk_chain (vm_id, checkpoint_id, position, leaf_file_id)",
            columns: 4,
            rows: chainRows,
            in: db
        )
        try insertRows(into: "disk_chain_link (child_file_id, parent_file_id)", columns: 2, rows: linkRows, in: db)
    }

    /// Inserts `rows` with as few statements as SQLite's parameter limit allows (each statement cached by its shape).
    private static func insertRows(
        into target: String,
        columns: Int,
        rows: [[(any DatabaseValueConvertible)?]],
        in db: Database
    ) throws {
        let perStatement = max(1, 999 / columns)
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(rows.count, start + perStatement)]
            let placeholders = "(" + Array(repeating: "?", count: columns).joined(separator: ", ") + ")"
            let statement = try db.cachedStatement(
                sql: "INSERT INTO \(target) VALUES "
                    + Array(repeating: placeholders, count: chunk.count).joined(separator: ", ")
            )
            try statement.execute(arguments: StatementArguments(chunk.flatMap { $0 }))
            start += chunk.count
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

    static func loadVM(_ row: Row, in db: Database) throws -> VM {
        let id: String = row["id"]
        let checkpoints = try Row.fetchAll(
            db,
            sql: "SELECT * FROM checkpoint WHERE vm_id = ? ORDER BY id",
            arguments: [id]
        ).map { row in
            Checkpoint(
                id: CheckpointID(row["id"] as String),
                name: row["name"],
                parent: (row["parent_id"] as String?).map(CheckpointID.init(rawValue:)),
                created: RowDecoding.timestamp(row, "created_at")
            )
        }
        var locations: [Int64: FileLocation] = [:]
        var files: [VMFile] = []
        // Columns by position: this loop runs for every file of every VM a snapshot reads.
        let fileRows = try Row.fetchAll(
            db,
            sql: """
                SELECT id, volume_id, relative_path, node, path, kind, format, size, identifier, checkpoint_id, problem,
                       problem_detail
                FROM file WHERE vm_id = ? ORDER BY id
                """,
            arguments: [id]
        )
        for fileRow in fileRows {
            let location: FileLocation
            if let volume: String = fileRow[1], let relative: String = fileRow[2] {
                location = .volume(VolumeID(volume), relativePath: relative)
            } else {
                location = .nodeLocal(NodeName(fileRow[3] as String), absolutePath: fileRow[4])
            }
            locations[fileRow[0]] = location
            files.append(
                VMFile(
                    location: location,
                    path: fileRow[4],
                    kind: try RowDecoding.enumValue(FileKind.self, fileRow, at: 5, named: "kind"),
                    format: try RowDecoding.optionalEnum(DiskFormat.self, fileRow, at: 6, named: "format"),
                    size: fileRow[7],
                    identifier: fileRow[8],
                    checkpoint: (fileRow[9] as String?).map(CheckpointID.init(rawValue:)),
                    problem: try RowDecoding.optionalEnum(FileProblem.self, fileRow, at: 10, named: "problem"),
                    problemDetail: fileRow[11]
                )
            )
        }
        var parents: [Int64: Int64] = [:]
        for link in try Row.fetchAll(
            db,
            sql: """
                SELECT l.child_file_id, l.parent_file_id FROM disk_chain_link l
                JOIN file f ON f.id = l.child_file_id WHERE f.vm_id = ?
                """,
            arguments: [id]
        ) {
            parents[link[0]] = link[1]
        }
        let chains = try Row.fetchAll(
            db,
            sql: "SELECT * FROM disk_chain WHERE vm_id = ? ORDER BY position",
            arguments: [id]
        ).map { chainRow in
            var elements: [FileLocation] = []
            var visited = Set<Int64>()
            var cursor: Int64? = chainRow["leaf_file_id"]
            while let fileID = cursor, visited.insert(fileID).inserted, let location = locations[fileID] {
                elements.append(location)
                cursor = parents[fileID]
            }
            return DiskChain(
                checkpoint: (chainRow["checkpoint_id"] as String?).map(CheckpointID.init(rawValue:)),
                elements: elements
            )
        }
        return VM(
            id: VMID(id),
            name: row["name"],
            ownership: Ownership(owner: NodeName(row["owner"] as String), epoch: Epoch(row["epoch"] as Int64)),
            state: try RowDecoding.enumValue(PowerState.self, row, "state"),
            highlyAvailable: row["highly_available"],
            memoryMiB: row["memory_mib"],
            checkpoints: checkpoints,
            files: files,
            chains: chains
        )
    }
}
