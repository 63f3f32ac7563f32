import ChainModel
import GRDB

/// Everything one agent report changes, applied in one transaction.
public struct ReportBatch: Sendable {
    public var node: NodeName
    public var driver: InventoryDriver
    public var memoryMiB: Int?
    public var volumes: [VolumeReport]
    /// The VMs the report lists that could be understood.
    public var vms: [VM]
    /// Every VM id the report lists, understood or not.
    public var listed: [VMID]
    /// Entries the coordinator could not understand, and the agent's own inventory errors.
    public var inventoryErrors: [(vm: String?, message: String)]
    public var discoveredDisks: [(volume: VolumeID, relativePath: String, path: String)]
    public var probeWindow: Duration

    public init(
        node: NodeName,
        driver: InventoryDriver,
        memoryMiB: Int?,
        volumes: [VolumeReport],
        vms: [VM],
        listed: [VMID],
        inventoryErrors: [(vm: String?, message: String)],
        discoveredDisks: [(volume: VolumeID, relativePath: String, path: String)],
        probeWindow: Duration
    ) {
        self.node = node
        self.driver = driver
        self.memoryMiB = memoryMiB
        self.volumes = volumes
        self.vms = vms
        self.listed = listed
        self.inventoryErrors = inventoryErrors
        self.discoveredDisks = discoveredDisks
        self.probeWindow = probeWindow
    }
}

/// What a report changed.
public struct ReportOutcome: Sendable, Equatable {
    public var registered = 0
    public var updated = 0
    /// Known VMs whose report matched the stored inventory exactly: only their report time moved.
    public var unchanged = 0
    /// Known VMs whose owner or epoch the report corrected because the reporter holds a higher epoch.
    public var rebuilt = 0
    public var listedOnly = 0
    public var errors = 0

    public init() {}
}

extension ClusterStore {
    /// Applies a whole report in one transaction (one fsync, and never half a report).
    ///
    /// A VM the cluster does not know is registered to the reporting node; a known VM's inventory is taken only from
    /// its owner, and only rewritten when it differs from the stored one; a VM whose rows the database refuses is left
    /// out and recorded as an inventory error, so the rest of the report still lands.
    ///
    /// The first attempt writes every VM straight into the transaction. Only if the database refuses something is the
    /// report applied again with each VM in its own savepoint: a savepoint copies every page it touches, which made a
    /// 1,000-VM report three times slower when paid on every report (docs/benchmarks.md).
    public func ingest(_ batch: ReportBatch, at now: Timestamp) throws(StoreError) -> ReportOutcome {
        try translatingErrors {
            do {
                return try writer.write { db in try Self.apply(batch, at: now, isolatingVMs: false, in: db) }
            } catch is DatabaseError {
                return try writer.write { db in try Self.apply(batch, at: now, isolatingVMs: true, in: db) }
            } catch is StoreError {
                return try writer.write { db in try Self.apply(batch, at: now, isolatingVMs: true, in: db) }
            }
        }
    }

    static func apply(
        _ batch: ReportBatch,
        at now: Timestamp,
        isolatingVMs: Bool,
        in db: Database
    ) throws
        -> ReportOutcome
    {
        try recordReport(node: batch.node, driver: batch.driver, memoryMiB: batch.memoryMiB, at: now, in: db)
        try recordVolumes(of: batch.node, batch.volumes, probeWindow: batch.probeWindow, at: now, in: db)
        var outcome = ReportOutcome()
        var errors = batch.inventoryErrors
        let storedStatement = try db.cachedStatement(
            sql: "SELECT owner, epoch, inventory_digest FROM vm WHERE id = ?"
        )
        let touch = try db.cachedStatement(sql: "UPDATE vm SET inventory_at = ? WHERE id = ?")
        for vm in batch.vms {
            let stored = try Row.fetchOne(storedStatement, arguments: [vm.id.rawValue])
            var owner = (stored?["owner"] as String?).map(NodeName.init(rawValue:))
            if let current = owner, let storedEpoch = stored?["epoch"] as Int64?,
                vm.ownership.epoch.rawValue > storedEpoch
            {
                // The node holds a higher epoch than the database: the database lost commits (restored from a backup,
                // or rebuilt from the agents). The highest epoch wins (SPEC §6).
                try db.execute(
                    sql: "UPDATE vm SET owner = ?, epoch = ? WHERE id = ?",
                    arguments: [batch.node.rawValue, vm.ownership.epoch.rawValue, vm.id.rawValue]
                )
                try db.execute(
                    sql: """
                        INSERT INTO event (at, kind, vm_id, node, actor, message)
                        VALUES (?, 'ownership-rebuilt', ?, ?, ?, ?)
                        """,
                    arguments: [
                        now.databaseValue, vm.id.rawValue, batch.node.rawValue, "agent:\(batch.node.rawValue)",
                        "\(batch.node.rawValue) holds epoch \(vm.ownership.epoch.rawValue) for \(vm.name), above the "
                            + "database's \(storedEpoch) (owner \(current.rawValue)); the higher epoch wins",
                    ]
                )
                outcome.rebuilt += 1
                owner = batch.node
            }
            if let owner, owner != batch.node {
                outcome.listedOnly += 1
                continue
            }
            if let digest = stored?["inventory_digest"] as String?, digest == InventoryDigest.of(vm) {
                try touch.execute(arguments: [now.databaseValue, vm.id.rawValue])
                outcome.unchanged += 1
                continue
            }
            let order: [Checkpoint]
            do {
                order = try CheckpointTree(vm.checkpoints).depthFirst().map(\.checkpoint)
            } catch {
                errors.append((vm: vm.name, message: StoreError(error).message))
                continue
            }
            if isolatingVMs {
                do {
                    try db.inSavepoint {
                        try writeInventory(of: vm, checkpointsInOrder: order, at: now, in: db)
                        return .commit
                    }
                } catch let error as DatabaseError {
                    errors.append((vm: vm.name, message: StoreError(error).message))
                    continue
                } catch let error as StoreError {
                    errors.append((vm: vm.name, message: error.message))
                    continue
                }
            } else {
                // A refusal here abandons this attempt; `ingest` then isolates each VM.
                try writeInventory(of: vm, checkpointsInOrder: order, at: now, in: db)
            }
            if owner == nil { outcome.registered += 1 } else { outcome.updated += 1 }
        }
        outcome.errors = errors.count
        try saveListings(of: batch.node, vms: batch.listed, at: now, in: db)
        try saveInventoryErrors(of: batch.node, errors, at: now, in: db)
        try recordDiscoveredDisks(of: batch.node, batch.discoveredDisks, at: now, in: db)
        return outcome
    }
}
