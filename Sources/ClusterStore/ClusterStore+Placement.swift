import ChainModel
import GRDB

/// What `check` and `migrate` need, without the whole cluster: every node, volume, mount, policy and class, a light
/// placement per VM (owner, state, memory) for node load, and the full record of only the VM being judged.
public struct PlacementInput: Sendable {
    /// One VM's placement row, with its row id in `vm` (what `PlacementChangeLog` names).
    public typealias Placement = (
        rowID: Int64, id: VMID, name: String, owner: NodeName, state: PowerState, memoryMiB: Int
    )

    /// Nodes, volumes, mounts, policies, classes, operations, and in `vms` only the VMs the key matched.
    public var snapshot: ClusterSnapshot
    /// Every VM's placement, or only those of the rows asked for (a row since deleted is absent).
    public var placements: [Placement]
}

extension ClusterStore {
    /// The placement input for the VM whose id is `key`, or else whose name is `key` (several VMs may share a name).
    ///
    /// One read transaction; at SPEC scale it reads 8,000 short placement rows and one VM's files, instead of the
    /// 400,000 files `snapshot()` reads.
    ///
    /// With `rows`, only the placements of those rows of `vm` are read (`PlacementChangeLog`), in the same transaction.
    public func placementInput(matching key: String, rows: Set<Int64>? = nil) throws(StoreError) -> PlacementInput {
        let result = try translatingErrors {
            try writer.read { db -> Result<PlacementInput, StoreError> in
                do {
                    var snapshot = ClusterSnapshot()
                    snapshot.nodes = try Row.fetchAll(db, sql: "SELECT * FROM node ORDER BY name").map { row in
                        try Self.node(from: row)
                    }
                    snapshot.volumes = try Row.fetchAll(db, sql: "SELECT id, name FROM volume").map {
                        Volume(id: VolumeID($0[0] as String), name: $0[1])
                    }
                    snapshot.mounts = try Row.fetchAll(db, sql: "SELECT * FROM volume_mount").map(Self.mount(from:))
                    for row in try Row.fetchAll(db, sql: "SELECT * FROM placement_policy") {
                        snapshot.policies[VMID(row["vm_id"] as String)] = try Self.policy(from: row)
                    }
                    snapshot.classes = try Row.fetchAll(db, sql: "SELECT name, enforced FROM anti_affinity_class").map {
                        AntiAffinityClass(name: $0[0], enforced: $0[1])
                    }
                    for row in try Row.fetchAll(
                        db,
                        sql: "SELECT vm_id, kind FROM migration WHERE state NOT IN ('committed', 'aborted')"
                    ) {
                        snapshot.operationsInProgress.insert(VMID(row[0] as String))
                        snapshot.operationKinds[VMID(row[0] as String)] = row[1]
                    }
                    var placements: [PlacementInput.Placement] = []
                    // Columns by position: name lookups would dominate 80,000 rows.
                    let select = "SELECT rowid, id, name, owner, state, memory_mib FROM vm"
                    if let rows {
                        try Self.forEachRow(of: select, rowIDs: rows, in: db) { placements.append(Self.placement($0)) }
                    } else {
                        let cursor = try Row.fetchCursor(db, sql: select)
                        while let row = try cursor.next() { placements.append(Self.placement(row)) }
                    }
                    var matched = try Row.fetchAll(db, sql: "SELECT * FROM vm WHERE id = ?", arguments: [key])
                    if matched.isEmpty {
                        matched = try Row.fetchAll(
                            db,
                            sql: "SELECT * FROM vm WHERE name = ? ORDER BY id",
                            arguments: [key]
                        )
                    }
                    snapshot.vms = try matched.map { try Self.loadVM($0, in: db) }
                    return .success(PlacementInput(snapshot: snapshot, placements: placements))
                } catch let error as StoreError {
                    return .failure(error)
                }
            }
        }
        return try result.get()
    }

    /// A placement row of `SELECT rowid, id, name, owner, state, memory_mib FROM vm`.
    private static func placement(_ row: Row) -> PlacementInput.Placement {
        (
            row[0], VMID(row[1] as String), row[2], NodeName(row[3] as String),
            PowerState(rawValue: row[4] as String) ?? .off, row[5]
        )
    }
}

extension ClusterStore {
    /// The VMs whose id is `key`, or else whose name is `key`, each in full.
    public func vms(matching key: String) throws(StoreError) -> [VM] {
        try translatingErrors {
            try writer.read { db in
                var matched = try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT * FROM vm WHERE id = ?"),
                    arguments: [key]
                )
                if matched.isEmpty {
                    matched = try Row.fetchAll(
                        db.cachedStatement(sql: "SELECT * FROM vm WHERE name = ? ORDER BY id"),
                        arguments: [key]
                    )
                }
                return try matched.map { try Self.loadVM($0, in: db) }
            }
        }
    }

    /// Every VM a node owns, in full.
    public func vms(ownedBy node: NodeName) throws(StoreError) -> [VM] {
        try translatingErrors {
            try writer.read { db in
                try Self.loadVMs(where: "v.owner = ?", arguments: [node.rawValue], in: db)
            }
        }
    }

    /// The VMs `node` owns, in full, except those in `excluded` (read by id only).
    ///
    /// The failover manager's rounds read a fenced node's VMs again after every commit; the ones already moving are not
    /// planned again, and reading their files at each round was an eighth of the coordinator's CPU during a 1,250-VM
    /// failover on etcd (issue 27).
    public func vms(ownedBy node: NodeName, except excluded: Set<VMID>) throws(StoreError) -> [VM] {
        guard !excluded.isEmpty else { return try vms(ownedBy: node) }
        return try translatingErrors {
            try writer.read { db in
                let ids = try String.fetchAll(
                    db.cachedStatement(sql: "SELECT id FROM vm WHERE owner = ?"),
                    arguments: [node.rawValue]
                )
                .filter { !excluded.contains(VMID($0)) }
                var vms: [VM] = []
                for start in stride(from: 0, to: ids.count, by: 500) {
                    let batch = Array(ids[start..<min(start + 500, ids.count)])
                    let marks = Array(repeating: "?", count: batch.count).joined(separator: ", ")
                    vms += try Self.loadVMs(
                        where: "v.owner = ? AND v.id IN (\(marks))",
                        arguments: StatementArguments([node.rawValue] + batch),
                        in: db
                    )
                }
                return vms
            }
        }
    }
}
