import ChainModel
import Foundation
import GRDB

extension ClusterStore {
    /// Sets a VM's placement policy (creating its anti-affinity class, soft, if it is new).
    public func savePolicy(_ policy: PlacementPolicy, for vm: VMID, term: LeaderTerm? = nil) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                try Self.requireLeader(term, in: db)
                try Self.writePolicy(policy, for: vm, in: db)
            }
        }
    }

    /// A VM's stored policy, or nil when it has none (the defaults apply).
    public func policy(for vm: VMID) throws(StoreError) -> PlacementPolicy? {
        try translatingErrors {
            try writer.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM placement_policy WHERE vm_id = ?", arguments: [vm.rawValue])
                    .map(Self.policy(from:))
            }
        }
    }

    /// The highly available VMs whose isolation response is `stop` (SPEC §6), by owner, sorted by id.
    public func isolationStopVMs() throws(StoreError) -> [NodeName: [VMID]] {
        try translatingErrors {
            try writer.read { db in
                var byOwner: [NodeName: [VMID]] = [:]
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT vm.owner AS owner, vm.id AS id FROM vm JOIN placement_policy p ON p.vm_id = vm.id
                        WHERE p.isolation = 'stop' AND vm.owner IS NOT NULL
                            AND COALESCE(p.highly_available, vm.highly_available) = 1
                        ORDER BY vm.id
                        """
                )
                for row in rows {
                    byOwner[NodeName(row["owner"] as String), default: []].append(VMID(row["id"] as String))
                }
                return byOwner
            }
        }
    }

    /// Whether an anti-affinity class is enforced; nil for a class no policy has named.
    public func classEnforced(_ name: String) throws(StoreError) -> Bool? {
        try translatingErrors {
            try writer.read { db in
                try Bool.fetchOne(db, sql: "SELECT enforced FROM anti_affinity_class WHERE name = ?", arguments: [name])
            }
        }
    }

    /// Sets whether an anti-affinity class is enforced.
    public func saveClass(_ antiAffinityClass: AntiAffinityClass, term: LeaderTerm? = nil) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                try Self.requireLeader(term, in: db)
                try db.execute(
                    sql: """
                        INSERT INTO anti_affinity_class (name, enforced) VALUES (?, ?)
                        ON CONFLICT(name) DO UPDATE SET enforced = excluded.enforced
                        """,
                    arguments: [antiAffinityClass.name, antiAffinityClass.enforced]
                )
            }
        }
    }

    /// Records which VMs a node's inventory lists, replacing its previous list.
    public func saveListings(of node: NodeName, vms: [VMID], at now: Timestamp) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in try Self.saveListings(of: node, vms: vms, at: now, in: db) }
        }
    }

    static func saveListings(of node: NodeName, vms: [VMID], at now: Timestamp, in db: Database) throws {
        try db.execute(sql: "DELETE FROM vm_listing WHERE node = ?", arguments: [node.rawValue])
        // Entries that could not be registered (inventory errors) have no VM row to list.
        let insert = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO vm_listing (vm_id, node, reported_at)
                SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM vm WHERE id = ?)
                """
        )
        for vm in vms {
            try insert.execute(arguments: [vm.rawValue, node.rawValue, now.databaseValue, vm.rawValue])
        }
    }

    /// The nodes whose inventory lists `vm` (its owner, and any node it is still registered on).
    public func listings(of vm: VMID) throws(StoreError) -> Set<NodeName> {
        try translatingErrors {
            try writer.read { db in
                Set(
                    try String.fetchAll(
                        db,
                        sql: "SELECT node FROM vm_listing WHERE vm_id = ?",
                        arguments: [vm.rawValue]
                    )
                    .map(NodeName.init(rawValue:))
                )
            }
        }
    }

    /// Replaces the inventory errors a node reported.
    public func saveInventoryErrors(
        of node: NodeName,
        _ errors: [InventoryError],
        at now: Timestamp
    ) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in try Self.saveInventoryErrors(of: node, errors, at: now, in: db) }
        }
    }

    static func saveInventoryErrors(
        of node: NodeName,
        _ errors: [InventoryError],
        at now: Timestamp,
        in db: Database
    ) throws {
        try db.execute(sql: "DELETE FROM inventory_error WHERE node = ?", arguments: [node.rawValue])
        for error in errors {
            try db.execute(
                sql: "INSERT INTO inventory_error (node, vm_name, message, reported_at) VALUES (?, ?, ?, ?)",
                arguments: [node.rawValue, error.vm, error.message, now.databaseValue]
            )
        }
    }

    static func writePolicy(_ policy: PlacementPolicy, for vm: VMID, in db: Database) throws {
        if let name = policy.antiAffinityClass {
            try db.execute(
                sql: "INSERT INTO anti_affinity_class (name) VALUES (?) ON CONFLICT(name) DO NOTHING",
                arguments: [name]
            )
        }
        try db.execute(
            sql: """
                INSERT INTO placement_policy (vm_id, highly_available, possible_owners, preferred_owners,
                                              anti_affinity_class, priority, max_failovers, failover_period_ms,
                                              isolation, checkpoint_volume, stranded)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(vm_id) DO UPDATE SET
                    highly_available = excluded.highly_available, possible_owners = excluded.possible_owners,
                    preferred_owners = excluded.preferred_owners,
                    anti_affinity_class = excluded.anti_affinity_class, priority = excluded.priority,
                    max_failovers = excluded.max_failovers, failover_period_ms = excluded.failover_period_ms,
                    isolation = excluded.isolation, checkpoint_volume = excluded.checkpoint_volume,
                    stranded = excluded.stranded
                """,
            arguments: [
                vm.rawValue, policy.highlyAvailable, try Self.jsonArray(policy.possibleOwners.map(\.rawValue)),
                try Self.jsonArray(policy.preferredOwners.map(\.rawValue)), policy.antiAffinityClass,
                policy.priority.rawValue, policy.threshold.maxFailovers,
                policy.threshold.period.wholeMilliseconds, policy.isolation.rawValue, policy.checkpointVolume?.rawValue,
                policy.stranded.rawValue,
            ]
        )
    }

    static func policy(from row: Row) throws -> PlacementPolicy {
        PlacementPolicy(
            highlyAvailable: row["highly_available"],
            possibleOwners: try jsonStrings(row["possible_owners"]).map(NodeName.init(rawValue:)),
            preferredOwners: try jsonStrings(row["preferred_owners"]).map(NodeName.init(rawValue:)),
            antiAffinityClass: row["anti_affinity_class"],
            priority: try RowDecoding.enumValue(FailoverPriority.self, row, "priority"),
            threshold: FailoverThreshold(
                maxFailovers: row["max_failovers"],
                period: .milliseconds(row["failover_period_ms"] as Int64)
            ),
            isolation: try RowDecoding.enumValue(IsolationResponse.self, row, "isolation"),
            checkpointVolume: (row["checkpoint_volume"] as String?).map(VolumeID.init(rawValue:)),
            // A value this build does not know reads as `refuse`, which moves nothing.
            stranded: (row["stranded"] as String?).flatMap(StrandedResponse.init(rawValue:)) ?? .refuse
        )
    }

    static func jsonArray(_ values: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(values), as: UTF8.self)
    }

    static func jsonStrings(_ text: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(text.utf8))
    }
}
