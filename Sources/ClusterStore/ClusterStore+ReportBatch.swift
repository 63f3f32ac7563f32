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
    /// Every VM id of an entry the report sends whole (`vms`), understood or not; `unchangedEntries` add theirs.
    public var listed: [VMID]
    /// Entries the coordinator could not understand, and the agent's own inventory errors.
    public var inventoryErrors: [InventoryError]
    public var discoveredDisks: [DiscoveredDisk]
    public var probeWindow: Duration
    /// Whether the coordinator is rebuilding ownership from the agents (its first lease on a new, lost or restored
    /// database, SPEC §6): only then may a reported epoch above the stored one make the reporter the owner.
    public var rebuildingOwnership: Bool
    /// The URI another node's libvirt migrates to (libvirt nodes).
    public var hypervisorURI: String?
    /// `vm.report_key` of each VM in `vms` whose entry came with a digest: stored with its inventory.
    public var reportKeys: [VMID: String] = [:]
    /// VMs the report lists by the key of an entry delivered before (`AgentReport.unchangedVMs`): one also sent whole
    /// (in `listed`, or a later part's) or listed twice counts once, as the whole entry.
    public var unchangedEntries: [(vm: VMID, key: String)] = []

    /// VMs applied per write transaction: the writer is free between steps, so heartbeat times, journal steps and the
    /// leader's lease renewals wait for one step (tens of milliseconds), never for a whole 10 MiB report.
    public static let vmsPerStep = 200

    public init(
        node: NodeName,
        driver: InventoryDriver,
        memoryMiB: Int?,
        volumes: [VolumeReport],
        vms: [VM],
        listed: [VMID],
        inventoryErrors: [InventoryError],
        discoveredDisks: [DiscoveredDisk],
        probeWindow: Duration,
        rebuildingOwnership: Bool = false,
        hypervisorURI: String? = nil
    ) {
        self.hypervisorURI = hypervisorURI
        self.node = node
        self.driver = driver
        self.memoryMiB = memoryMiB
        self.volumes = volumes
        self.vms = vms
        self.listed = listed
        self.inventoryErrors = inventoryErrors
        self.discoveredDisks = discoveredDisks
        self.probeWindow = probeWindow
        self.rebuildingOwnership = rebuildingOwnership
    }
}

/// VMs of a report with what `ClusterStore.apply` writes of them, built off the writer (`ClusterStore.prepare`).
struct PreparedStep: Sendable {
    struct Entry: Sendable {
        var vm: VM
        /// `InventoryDigest.of(vm)`.
        var digest: String
        /// `nil` when, as the step was built, the database held this digest or another node owned the VM.
        var document: Built?
    }

    /// A VM's document, or why it has none (`invalidInventory`).
    typealias Built = Result<InventoryDocument, StoreError>

    var entries: [Entry]
    /// Listings and inventory errors of a `ReportPart` this step is the first of.
    var listed: [VMID] = []
    var inventoryErrors: [InventoryError] = []
}

/// What a report changed.
public struct ReportOutcome: Sendable, Equatable {
    public var registered = 0
    public var updated = 0
    /// Known VMs whose report matched the stored inventory exactly: only their report time moved.
    public var unchanged = 0
    /// Known VMs whose owner or epoch the report corrected because the reporter holds a higher epoch (only while
    /// ownership is being rebuilt).
    public var rebuilt = 0
    public var listedOnly = 0
    public var errors = 0
    /// Volumes other nodes report on which this node's mount is not verified yet: it read no other node's nonce.
    public var unverifiedSharedVolumes: [VolumeID] = []
    /// VMs of this node whose reported metadata digest has no body here yet: the agent uploads them.
    public var missingMetadata: [VMID] = []
    /// Entries listed as unchanged that this database does not hold from the reporter: the agent sends them whole.
    public var resend: [VMID] = []

    public init() {}
}

extension ClusterStore {
    /// Applies a whole report in bounded steps: the node's header and volumes, then the VMs `ReportBatch.vmsPerStep`
    /// at a time (the batch's, then each part of `rest` as it arrives), then its listings, inventory errors,
    /// discovered disks and the node's inventory time, each step one transaction.
    ///
    /// `rest` carries the entries of a large report still being decoded: the writer applies the first ones meanwhile.
    /// When it stops (the rest is malformed), the VMs applied stay, as after a crash between steps, nothing after
    /// them is written, and this throws `reportIncomplete`; the node's inventory time is not moved, so the VMs the
    /// report did not reach count as stale as they are.
    ///
    /// A VM the cluster does not know is registered to the reporting node; a known VM's inventory is taken only from
    /// its owner, and only rewritten when it differs from the stored one; a VM whose rows the database refuses is left
    /// out and recorded as an inventory error, so the rest of the report still lands. Each VM is applied whole; a crash
    /// between steps leaves some VMs at this report and the others at the previous one, which the agent's next
    /// delivery completes (it keeps the report in its outbox until acknowledged).
    ///
    /// A step first writes its VMs straight into the transaction. Only if the database refuses something is the step
    /// applied again with each VM in its own savepoint: a savepoint copies every page it touches, which made a 1,000-VM
    /// report three times slower when paid on every report (docs/benchmarks.md).
    public func ingest(
        _ batch: ReportBatch,
        at now: Timestamp,
        rest: (any ReportPartSource)? = nil
    ) throws(StoreError) -> ReportOutcome {
        try translatingErrors {
            var errors = batch.inventoryErrors
            let volumes = try writer.write { db in
                try Self.recordReport(
                    node: batch.node,
                    driver: batch.driver,
                    memoryMiB: batch.memoryMiB,
                    at: now,
                    in: db
                )
                return try Self.recordVolumes(
                    of: batch.node,
                    batch.volumes,
                    probeWindow: batch.probeWindow,
                    at: now,
                    in: db
                )
            }
            errors += volumes.disagreements
            var outcome = ReportOutcome()
            outcome.unverifiedSharedVolumes = volumes.unverified
            var listed = batch.listed
            // Each step's rows are built on another thread while the writer applies the previous step; the steps are
            // the batch's VMs, then each part of `rest` as it arrives.
            let parts = ReportSteps(batch: batch, rest: rest) { [self] vms, batch in prepare(vms, of: batch, at: now) }
            var prepared = parts.next()
            while let current = prepared {
                let (step, stepBatch) = try current.get()
                listed += step.listed
                errors += step.inventoryErrors
                let ahead = parts.mayHaveMore ? WorkAhead { parts.next() } : nil
                let (stepOutcome, stepErrors): (ReportOutcome, [InventoryError])
                do {
                    (stepOutcome, stepErrors) = try writer.write { db in
                        try Self.apply(step, of: stepBatch, at: now, isolatingVMs: false, in: db)
                    }
                } catch is DatabaseError {
                    (stepOutcome, stepErrors) = try writer.write { db in
                        try Self.apply(step, of: stepBatch, at: now, isolatingVMs: true, in: db)
                    }
                } catch is StoreError {
                    (stepOutcome, stepErrors) = try writer.write { db in
                        try Self.apply(step, of: stepBatch, at: now, isolatingVMs: true, in: db)
                    }
                }
                outcome.add(stepOutcome)
                errors += stepErrors
                prepared = ahead?.value
            }
            // A VM sent whole wins over the same VM by digest; a VM listed by digest twice counts once.
            var seen = Set(listed)
            let unchanged = batch.unchangedEntries.filter { seen.insert($0.vm).inserted }
            listed += unchanged.map(\.vm)
            var next = unchanged.startIndex
            while next < unchanged.endIndex {
                let end = min(next + ReportBatch.vmsPerStep * 5, unchanged.endIndex)
                let step = unchanged[next..<end]
                outcome.add(try writer.write { db in try Self.applyUnchanged(step, of: batch, at: now, in: db) })
                next = end
            }
            outcome.errors = errors.count
            try writer.write { db in
                try Self.saveListings(of: batch.node, vms: listed, at: now, in: db)
                try Self.saveInventoryErrors(of: batch.node, errors, at: now, in: db)
                try Self.recordDiscoveredDisks(of: batch.node, batch.discoveredDisks, at: now, in: db)
                try db.execute(
                    sql: "UPDATE node SET hypervisor_uri = ? WHERE name = ?",
                    arguments: [batch.hypervisorURI, batch.node.rawValue]
                )
                try Self.recordInventoryTime(of: batch.node, at: now, in: db)
                outcome.missingMetadata = try Self.missingMetadata(of: batch.node, in: db)
            }
            return outcome
        }
    }

    /// Builds the documents of these VMs of the batch, without the writer: each VM's digest, and its document unless a reader
    /// finds the database already holds that digest, or another node owns the VM (then `apply` needs none, and builds
    /// them itself should the database have changed meanwhile).
    func prepare(_ vms: ArraySlice<VM>, of batch: ReportBatch, at now: Timestamp) -> PreparedStep {
        var stored: [String: (owner: String, digest: String?)] = [:]
        let ids = vms.map(\.id.rawValue)
        // Unread, every VM gets its document: the write decides from what it reads itself.
        try? writer.read { db in
            let rows = try Row.fetchCursor(
                db,
                sql:
                    "SELECT id, owner, inventory_digest FROM vm WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ", ")))",
                arguments: StatementArguments(ids)
            )
            while let row = try rows.next() { stored[row[0]] = (row[1], row[2]) }
        }
        return PreparedStep(
            entries: vms.map { vm in
                let digest = InventoryDigest.of(vm)
                let known = stored[vm.id.rawValue]
                let needsNone =
                    known.map { $0.digest == digest || ($0.owner != batch.node.rawValue && !batch.rebuildingOwnership) }
                    ?? false
                return PreparedStep.Entry(
                    vm: vm,
                    digest: digest,
                    document: needsNone ? nil : Self.document(of: vm, digest: digest, in: batch, at: now)
                )
            }
        )
    }

    static func document(of vm: VM, digest: String, in batch: ReportBatch, at now: Timestamp) -> PreparedStep.Built {
        Result { () throws(StoreError) in
            try InventoryDocument(of: vm, digest: digest, reportKey: batch.reportKeys[vm.id], at: now)
        }
    }

    /// One step of `ingest`: these VMs of the batch, in the transaction `db` is in.
    static func apply(
        _ step: PreparedStep,
        of batch: ReportBatch,
        at now: Timestamp,
        isolatingVMs: Bool,
        in db: Database
    ) throws -> (ReportOutcome, [InventoryError]) {
        var outcome = ReportOutcome()
        var errors: [InventoryError] = []
        let storedStatement = try db.cachedStatement(
            sql: "SELECT owner, epoch, inventory_digest, disks_digest FROM vm WHERE id = ?"
        )
        let touch = try db.cachedStatement(sql: "UPDATE vm SET inventory_at = ?, report_key = ? WHERE id = ?")
        for entry in step.entries {
            let vm = entry.vm
            let stored = try Row.fetchOne(storedStatement, arguments: [vm.id.rawValue])
            var owner = (stored?["owner"] as String?).map(NodeName.init(rawValue:))
            if batch.rebuildingOwnership, let current = owner, current != batch.node,
                let storedEpoch = stored?["epoch"] as Int64?, vm.ownership.epoch.rawValue > storedEpoch
            {
                // The database lost commits (it is new, or restored from a backup) and this node holds a higher epoch
                // than it: only a committed hand-off can have given it that epoch. The highest epoch wins (SPEC §6).
                try rebuildOwner(of: vm, from: current, storedEpoch: storedEpoch, to: batch.node, at: now, in: db)
                outcome.rebuilt += 1
                owner = batch.node
            }
            if let owner, owner != batch.node {
                // Another node's VM: recorded as a listing (`registered-on-non-owner`), never taken.
                outcome.listedOnly += 1
                continue
            }
            let reportKey = batch.reportKeys[vm.id]
            if let digest = stored?["inventory_digest"] as String?, digest == entry.digest {
                try touch.execute(arguments: [now.databaseValue, reportKey, vm.id.rawValue])
                outcome.unchanged += 1
                continue
            }
            let document: InventoryDocument
            switch entry.document ?? Self.document(of: vm, digest: entry.digest, in: batch, at: now) {
            case .success(let built):
                document = built
            case .failure(let error):
                errors.append(InventoryError(node: batch.node, vm: vm.name, message: error.message))
                continue
            }
            if isolatingVMs {
                do {
                    try db.inSavepoint {
                        try writeInventory(document, storedDisksDigest: stored?["disks_digest"], in: db)
                        return .commit
                    }
                } catch let error as DatabaseError {
                    errors.append(InventoryError(node: batch.node, vm: vm.name, message: StoreError(error).message))
                    continue
                } catch let error as StoreError {
                    errors.append(InventoryError(node: batch.node, vm: vm.name, message: error.message))
                    continue
                }
            } else {
                // A refusal here abandons this attempt; `ingest` then isolates each VM.
                try writeInventory(document, storedDisksDigest: stored?["disks_digest"], in: db)
            }
            if owner == nil { outcome.registered += 1 } else { outcome.updated += 1 }
        }
        return (outcome, errors)
    }

    /// One step of `ingest` for VMs listed by the key of an entry delivered before: each is unchanged when this node
    /// owns it and its stored inventory came from that very entry (`vm.report_key`); one another node owns is a
    /// listing, as its whole entry would be; any other (unknown here, stored from another entry, or any while
    /// ownership is being rebuilt, which needs each entry's epoch) is asked for again.
    static func applyUnchanged(
        _ entries: ArraySlice<(vm: VMID, key: String)>,
        of batch: ReportBatch,
        at now: Timestamp,
        in db: Database
    ) throws -> ReportOutcome {
        var outcome = ReportOutcome()
        guard !batch.rebuildingOwnership else {
            outcome.resend = entries.map(\.vm)
            return outcome
        }
        let stored = try db.cachedStatement(sql: "SELECT owner, report_key FROM vm WHERE id = ?")
        let touch = try db.cachedStatement(sql: "UPDATE vm SET inventory_at = ? WHERE id = ?")
        for (vm, key) in entries {
            guard let row = try Row.fetchOne(stored, arguments: [vm.rawValue]) else {
                outcome.resend.append(vm)
                continue
            }
            if (row["owner"] as String?) != batch.node.rawValue {
                outcome.listedOnly += 1
            } else if (row["report_key"] as String?) == key {
                try touch.execute(arguments: [now.databaseValue, vm.rawValue])
                outcome.unchanged += 1
            } else {
                outcome.resend.append(vm)
            }
        }
        return outcome
    }

    /// Makes `node` the owner of `vm` at the epoch it reported, with an `ownership-rebuilt` event.
    private static func rebuildOwner(
        of vm: VM,
        from current: NodeName,
        storedEpoch: Int64,
        to node: NodeName,
        at now: Timestamp,
        in db: Database
    ) throws {
        try db.execute(
            sql: "UPDATE vm SET owner = ?, epoch = ? WHERE id = ?",
            arguments: [node.rawValue, vm.ownership.epoch.rawValue, vm.id.rawValue]
        )
        try db.execute(
            sql: """
                INSERT INTO event (at, kind, vm_id, node, actor, message)
                VALUES (?, 'ownership-rebuilt', ?, ?, ?, ?)
                """,
            arguments: [
                now.databaseValue, vm.id.rawValue, node.rawValue, "agent:\(node.rawValue)",
                "\(node.rawValue) holds epoch \(vm.ownership.epoch.rawValue) for \(vm.name), above the database's "
                    + "\(storedEpoch) (owner \(current.rawValue)); the database was new or restored from a backup, "
                    + "and the higher epoch wins",
            ]
        )
    }
}

extension ReportOutcome {
    mutating func add(_ other: ReportOutcome) {
        registered += other.registered
        updated += other.updated
        unchanged += other.unchanged
        rebuilt += other.rebuilt
        listedOnly += other.listedOnly
        resend += other.resend
    }
}
