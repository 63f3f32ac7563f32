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
    public var listedOnly = 0
    public var errors = 0

    public init() {}
}

extension ClusterStore {
    /// Applies a whole report in one transaction (one fsync, and never half a report).
    ///
    /// A VM the cluster does not know is registered to the reporting node; a known VM's inventory is taken only from
    /// its owner; a VM whose rows the database refuses is rolled back alone (a savepoint) and recorded as an inventory
    /// error, so the rest of the report still lands.
    public func ingest(_ batch: ReportBatch, at now: Timestamp) throws(StoreError) -> ReportOutcome {
        try translatingErrors {
            try writer.write { db -> ReportOutcome in
                try Self.recordReport(
                    node: batch.node,
                    driver: batch.driver,
                    memoryMiB: batch.memoryMiB,
                    at: now,
                    in: db
                )
                try Self.recordVolumes(of: batch.node, batch.volumes, probeWindow: batch.probeWindow, at: now, in: db)
                var outcome = ReportOutcome()
                var errors = batch.inventoryErrors
                let ownerStatement = try db.cachedStatement(sql: "SELECT owner FROM vm WHERE id = ?")
                for vm in batch.vms {
                    let owner = try String.fetchOne(ownerStatement, arguments: [vm.id.rawValue]).map(
                        NodeName.init(rawValue:)
                    )
                    if let owner, owner != batch.node {
                        outcome.listedOnly += 1
                        continue
                    }
                    do {
                        let order = try CheckpointTree(vm.checkpoints).depthFirst().map(\.checkpoint)
                        try db.inSavepoint {
                            try Self.writeInventory(of: vm, checkpointsInOrder: order, at: now, in: db)
                            return .commit
                        }
                        if owner == nil { outcome.registered += 1 } else { outcome.updated += 1 }
                    } catch let error as ModelError {
                        errors.append((vm: vm.name, message: StoreError(error).message))
                    } catch let error as DatabaseError {
                        errors.append((vm: vm.name, message: StoreError(error).message))
                    } catch let error as StoreError {
                        errors.append((vm: vm.name, message: error.message))
                    }
                }
                outcome.errors = errors.count
                try Self.saveListings(of: batch.node, vms: batch.listed, at: now, in: db)
                try Self.saveInventoryErrors(of: batch.node, errors, at: now, in: db)
                try Self.recordDiscoveredDisks(of: batch.node, batch.discoveredDisks, at: now, in: db)
                return outcome
            }
        }
    }
}
