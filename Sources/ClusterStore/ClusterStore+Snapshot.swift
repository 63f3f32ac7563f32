import ChainModel
import GRDB

extension ClusterStore {
    /// The whole cluster in one read transaction: nodes, volumes, reachability, every VM with its
    /// checkpoints, files and chains, policies, classes, active migrations, listings and inventory
    /// errors.
    public func snapshot() throws(StoreError) -> ClusterSnapshot {
        let result = try translatingErrors {
            try writer.read { db -> Result<ClusterSnapshot, StoreError> in
                do {
                    return .success(try Self.readSnapshot(db))
                } catch let error as StoreError {
                    return .failure(error)
                }
            }
        }
        return try result.get()
    }

    static func readSnapshot(_ db: Database) throws -> ClusterSnapshot {
        var snapshot = ClusterSnapshot()
        snapshot.nodes = try Row.fetchAll(db, sql: "SELECT * FROM node ORDER BY name").map { row in
            try Self.node(from: row)
        }
        snapshot.volumes = try Row.fetchAll(db, sql: "SELECT id, name FROM volume ORDER BY id").map {
            Volume(id: VolumeID($0["id"] as String), name: $0["name"])
        }
        snapshot.mounts = try Row.fetchAll(db, sql: "SELECT * FROM volume_mount").map(Self.mount(from:))
        snapshot.vms = try Self.loadVMs(where: "1", arguments: [], in: db)
        for row in try Row.fetchAll(db, sql: "SELECT * FROM placement_policy") {
            snapshot.policies[VMID(row["vm_id"] as String)] = try Self.policy(from: row)
        }
        snapshot.classes = try Row.fetchAll(db, sql: "SELECT * FROM anti_affinity_class ORDER BY name").map {
            AntiAffinityClass(name: $0["name"], enforced: $0["enforced"])
        }
        for row in try Row.fetchAll(
            db,
            sql: "SELECT vm_id, kind FROM migration WHERE state NOT IN ('committed', 'aborted')"
        ) {
            snapshot.operationsInProgress.insert(VMID(row[0] as String))
            snapshot.operationKinds[VMID(row[0] as String)] = row[1]
        }
        for row in try Row.fetchAll(db, sql: "SELECT vm_id, node FROM vm_listing") {
            snapshot.listings[VMID(row["vm_id"] as String), default: []].insert(NodeName(row["node"] as String))
        }
        snapshot.inventoryErrors = try Row.fetchAll(
            db,
            sql: "SELECT node, vm_name, message FROM inventory_error ORDER BY node, id"
        ).map { InventoryError(node: NodeName($0["node"] as String), vm: $0["vm_name"], message: $0["message"]) }
        snapshot.discoveredDisks = try Row.fetchAll(
            db,
            sql:
                "SELECT volume_id, relative_path, path, node FROM discovered_disk ORDER BY volume_id, relative_path, node"
        ).map {
            DiscoveredDisk(
                volume: VolumeID($0["volume_id"] as String),
                relativePath: $0["relative_path"],
                path: $0["path"],
                node: NodeName($0["node"] as String)
            )
        }
        return snapshot
    }
}
