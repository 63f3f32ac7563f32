import ChainModel
import GRDB

/// What the maintained audit reads (issue 27): light rows for every VM, VMs in full only when asked for by id, and
/// the cluster-wide inputs, never every file of the cluster at once.
extension ClusterStore {
    /// One VM as the audit's list needs it, without its files.
    public struct AuditRow: Hashable, Sendable {
        /// The row's SQLite row id, which `PlacementChangeLog` names.
        public var rowID: Int64
        public var id: VMID
        public var name: String
        public var owner: NodeName
        public var epoch: Epoch
        public var state: PowerState
        public var highlyAvailable: Bool
        /// The fingerprint of the owner's last report of the VM (`vm.inventory_digest`).
        public var digest: String?
    }

    /// The columns of `vm` an `AuditRow` holds: a log of changes to them (`logChanges(of:)`) says which rows an
    /// audit must read again.
    public static let auditColumns: Set<String> = [
        "id", "name", "owner", "epoch", "state", "highly_available", "inventory_digest",
    ]

    /// What the audit reads besides the VMs' files, in one read transaction.
    public struct AuditInputs: Sendable {
        /// Every VM's row, or only those of the row ids asked for that still exist.
        public var rows: [AuditRow]
        /// Nodes other than the owner whose inventory lists a VM.
        public var foreignListings: [VMID: Set<NodeName>]
        public var blocked: [VMID: String]
        /// Discovered differencing disks that no VM's file is.
        public var unusedDisks: [DiscoveredDisk]
        public var inventoryErrors: [InventoryError]
    }

    /// `rowIDs`: read only these rows of `vm` (those deleted are left out); `nil` reads every row.
    public func auditInputs(rowIDs: Set<Int64>? = nil) throws(StoreError) -> AuditInputs {
        try translatingErrors {
            try writer.read { db in
                var rows: [AuditRow] = []
                let columns = "rowid, id, name, owner, epoch, state, highly_available, inventory_digest"
                func read(_ sql: String, _ arguments: StatementArguments = []) throws {
                    // Columns by position: name lookups would dominate 80,000 rows.
                    let cursor = try Row.fetchCursor(db, sql: sql, arguments: arguments)
                    while let row = try cursor.next() {
                        rows.append(
                            AuditRow(
                                rowID: row[0],
                                id: VMID(row[1] as String),
                                name: row[2],
                                owner: NodeName(row[3] as String),
                                epoch: Epoch(row[4] as Int64),
                                // A stored value that no longer decodes never stops the audit: read as `off`.
                                state: PowerState(rawValue: row[5] as String) ?? .off,
                                highlyAvailable: row[6] as Bool? ?? false,
                                digest: row[7]
                            )
                        )
                    }
                }
                if let rowIDs {
                    // At most 500 ids a statement: far below SQLite's limit on bound values.
                    let ids = Array(rowIDs)
                    for start in stride(from: 0, to: ids.count, by: 500) {
                        let chunk = ids[start..<min(start + 500, ids.count)]
                        let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                        try read("SELECT \(columns) FROM vm WHERE rowid IN (\(marks))", StatementArguments(chunk))
                    }
                } else {
                    try read("SELECT \(columns) FROM vm")
                }
                var listings: [VMID: Set<NodeName>] = [:]
                for row in try Row.fetchAll(
                    db,
                    sql: "SELECT l.vm_id, l.node FROM vm_listing l JOIN vm v ON v.id = l.vm_id WHERE l.node <> v.owner"
                ) {
                    listings[VMID(row[0] as String), default: []].insert(NodeName(row[1] as String))
                }
                var blocked: [VMID: String] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT vm_id, summary FROM failover_block") {
                    blocked[VMID(row[0] as String)] = row[1] as String
                }
                // `vm_disk`'s key answers each discovered disk with one index lookup.
                let unused = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT d.volume_id, d.relative_path, d.path, d.node FROM discovered_disk d
                        WHERE NOT EXISTS (
                            SELECT 1 FROM vm_disk k WHERE k.volume_id = d.volume_id AND k.relative_path = d.relative_path
                        )
                        ORDER BY d.volume_id, d.relative_path, d.node
                        """
                ).map {
                    DiscoveredDisk(
                        volume: VolumeID($0[0] as String),
                        relativePath: $0[1],
                        path: $0[2],
                        node: NodeName($0[3] as String)
                    )
                }
                let errors = try Row.fetchAll(
                    db,
                    sql: "SELECT node, vm_name, message FROM inventory_error ORDER BY node, id"
                ).map { InventoryError(node: NodeName($0[0] as String), vm: $0[1], message: $0[2]) }
                return AuditInputs(
                    rows: rows,
                    foreignListings: listings,
                    blocked: blocked,
                    unusedDisks: unused,
                    inventoryErrors: errors
                )
            }
        }
    }

    /// The VMs with these ids in full, each with the fingerprint of the report it was read from.
    ///
    /// One read transaction, so the two belong together; ids no longer in the database are left out. Callers ask for a
    /// few hundred at a time (SQLite binds at most 32,766 values a statement).
    public func vmsWithDigests(_ ids: [VMID]) throws(StoreError) -> [(vm: VM, digest: String?)] {
        guard !ids.isEmpty else { return [] }
        let condition = "v.id IN (" + Array(repeating: "?", count: ids.count).joined(separator: ",") + ")"
        let arguments = StatementArguments(ids.map(\.rawValue))
        return try translatingErrors {
            try writer.read { db in
                var digests: [String: String] = [:]
                for row in try Row.fetchAll(
                    db,
                    sql: "SELECT v.id, v.inventory_digest FROM vm v WHERE \(condition)",
                    arguments: arguments
                ) {
                    if let digest = row[1] as String? { digests[row[0]] = digest }
                }
                return try Self.loadVMs(where: condition, arguments: arguments, in: db).map {
                    ($0, digests[$0.id.rawValue])
                }
            }
        }
    }
}
