import ChainModel
import ClusterEtcd
import Foundation
import Synchronization

/// The critical state in etcd 3.4 (issue 8), for two or more coordinators.
///
/// Keys under `prefix`: `leader` (the active coordinator, on a lease of `leaderLeaseTTL`), `vm/ID` (owner, epoch,
/// reserved epochs, migration under way), `migration/ID` (a journal record with its steps), `node/NAME` (a state set
/// by failover or an admin) and `policy/ID`. Every write is one transaction that compares the leader key's create
/// revision with the writer's term token (so a coordinator that lost its lease, was paused or partitioned cannot
/// write) and the mod revision of every key it read (so two writers never interleave); a lost comparison on a key is
/// retried from a fresh read, a lost comparison on the leader key is `not-leader`.
public final class EtcdCoordinationStore: CoordinationStore {
    let etcd: EtcdClient
    let prefix: String
    /// Each term's etcd lease, for renewal and resignation.
    ///
    /// Requests that time out may have been applied: every write decides again from a fresh read, and one that finds
    /// its own change already made does nothing (a plan finds its migration, a step finds itself as the last one).
    private let leases = Mutex<[Int64: Int64]>([:])
    /// The keys this coordinator's guarded writes last put, as put, with the term that put them (`WrittenKeys`).
    let written = WrittenKeys()
    /// Guarded writes that come at once, sent as one transaction.
    let group: EtcdGroupCommit

    public init(etcd: EtcdClient, prefix: String) {
        self.etcd = etcd
        self.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/"
        group = EtcdGroupCommit(leaderKey: self.prefix + "leader") { (transaction) async throws(EtcdError) in
            try await etcd.transaction(transaction)
        }
    }

    public var isEmbedded: Bool { false }

    var leaderKey: String { prefix + "leader" }
    func vmKey(_ vm: VMID) -> String { prefix + "vm/" + vm.rawValue }
    func migrationKey(_ id: String) -> String { prefix + "migration/" + id }
    func nodeKey(_ node: NodeName) -> String { prefix + "node/" + node.rawValue }
    func policyKey(_ vm: VMID) -> String { prefix + "policy/" + vm.rawValue }
    func classKey(_ name: String) -> String { prefix + "class/" + name }

    // MARK: Leadership

    public func campaign(
        as candidate: LeaderInfo,
        ttl: Duration,
        at now: Timestamp
    ) async throws(StoreError)
        -> LeaderTerm?
    {
        let seconds = max(1, Int64((ttl.wholeMilliseconds + 999) / 1000))
        let value = try EtcdJSON.encode(candidate)
        for _ in 0..<2 {
            let lease = try await etcdCall { () async throws(EtcdError) in try await etcd.grantLease(ttl: seconds) }
            let result: EtcdTransactionResult
            do {
                result = try await etcd.transaction(
                    EtcdTransaction(compare: [.absent(leaderKey)], success: [.put(leaderKey, value, lease: lease)])
                )
            } catch  where error.code == .notFound {
                continue  // the lease ran out before the put reached etcd (a very slow moment): try a fresh one
            } catch {
                throw StoreError(.unavailable, "etcd: \(error.message)")
            }
            guard result.succeeded else {
                // Revoked at once, so an abandoned candidate's lease cannot linger (distributed-engine.md §B).
                try? await etcd.revokeLease(lease)
                return nil
            }
            leases.withLock { $0[result.revision] = lease }
            return LeaderTerm(leader: candidate, token: result.revision)
        }
        return nil
    }

    public func renew(_ term: LeaderTerm, ttl: Duration, at now: Timestamp) async throws(StoreError) {
        guard let lease = leases.withLock({ $0[term.token] }) else { throw notLeader(term) }
        let alive = try await keepAlive(lease)
        let key = try await etcdCall { () async throws(EtcdError) in try await etcd.get(leaderKey) }
        guard alive, key?.createRevision == term.token else {
            leases.withLock { $0[term.token] = nil }
            throw notLeader(term)
        }
    }

    public func resign(_ term: LeaderTerm) async throws(StoreError) {
        let lease = leases.withLock { $0.removeValue(forKey: term.token) }
        _ = try await etcdCall { () async throws(EtcdError) in
            try await etcd.transaction(
                EtcdTransaction(compare: [.created(leaderKey, at: term.token)], success: [.delete(leaderKey)])
            )
        }
        if let lease { try? await etcd.revokeLease(lease) }
    }

    public func leader(at now: Timestamp) async throws(StoreError) -> LeaderTerm? {
        guard let key = try await etcdCall({ () async throws(EtcdError) in try await etcd.get(leaderKey) }) else {
            return nil
        }
        return LeaderTerm(
            leader: try EtcdJSON.decode(LeaderInfo.self, key.value, key: leaderKey),
            token: key.createRevision
        )
    }

    // MARK: Ownership

    public func claim(
        _ vm: VMID,
        name: String,
        owner: NodeName,
        epoch: Epoch,
        reserved: Epoch,
        term: LeaderTerm
    ) async throws(StoreError) -> Ownership {
        var result: Ownership?
        try await guardedWrite(term, reading: [vmKey(vm)]) { (found) throws(StoreError) in
            if let existing = found[0] {
                let record = try EtcdJSON.decode(EtcdVMRecord.self, existing.value, key: existing.key)
                result = Ownership(owner: record.owner, epoch: record.epoch)
                return []
            }
            let record = EtcdVMRecord(name: name, owner: owner, epoch: epoch, reserved: max(epoch, reserved))
            result = Ownership(owner: owner, epoch: epoch)
            return [.put(vmKey(vm), try EtcdJSON.encode(record))]
        }
        guard let result else { throw StoreError(.unavailable, "the claim of \(vm.rawValue) decided nothing") }
        return result
    }

    public func owner(of vm: VMID) async throws(StoreError) -> Ownership? {
        guard let key = try await get(vmKey(vm)) else { return nil }
        let record = try EtcdJSON.decode(EtcdVMRecord.self, key.value, key: key.key)
        return Ownership(owner: record.owner, epoch: record.epoch)
    }

    public func owners() async throws(StoreError) -> [VMID: Ownership] {
        var owners: [VMID: Ownership] = [:]
        for key in try await all("vm/") {
            let record = try EtcdJSON.decode(EtcdVMRecord.self, key.value, key: key.key)
            owners[VMID(String(key.key.dropFirst(prefix.count + 3)))] = Ownership(
                owner: record.owner,
                epoch: record.epoch
            )
        }
        return owners
    }

    // MARK: Journal

    public func planMigration(
        vm: VMID,
        source: NodeName,
        target: NodeName,
        kind: MigrationRecord.Kind,
        requestedBy: String,
        operation: String?,
        at now: Timestamp,
        term: LeaderTerm
    ) async throws(StoreError) -> MigrationRecord {
        let id = UUID().uuidString.lowercased()
        var planned: MigrationRecord?
        try await guardedWrite(term, reading: [vmKey(vm)]) { (found) throws(StoreError) in
            guard let key = found[0] else {
                throw StoreError(.danglingReference, "the cluster does not know VM \(vm.rawValue)")
            }
            var record = try EtcdJSON.decode(EtcdVMRecord.self, key.value, key: key.key)
            if record.active == id {
                // A retried transaction that etcd had already applied: the plan is made.
                return []
            }
            guard record.owner == source else {
                throw StoreError(.conflict, "the VM is owned by \(record.owner), not \(source)")
            }
            if let active = record.active {
                throw StoreError(.conflict, "another migration of the VM is under way (\(active))")
            }
            guard let epoch = max(record.epoch, record.reserved).next else { throw StoreError.epochExhausted(vm) }
            record.reserved = epoch
            record.active = id
            let migration = MigrationRecord(
                id: id,
                vm: vm,
                vmName: record.name,
                kind: kind,
                source: source,
                target: target,
                epoch: epoch,
                state: .planned,
                requestedBy: requestedBy,
                operation: operation,
                createdAt: now,
                updatedAt: now,
                steps: [MigrationRecord.Step(state: .planned, at: now, detail: "epoch \(epoch) reserved")]
            )
            planned = migration
            return [.put(key.key, try EtcdJSON.encode(record)), .put(migrationKey(id), try EtcdJSON.encode(migration))]
        }
        guard let planned else { throw StoreError(.unavailable, "the plan of \(vm.rawValue) decided nothing") }
        return planned
    }

    @discardableResult
    public func advanceMigration(
        _ id: String,
        to state: MigrationRecord.State,
        detail: String?,
        at now: Timestamp,
        term: LeaderTerm
    ) async throws(StoreError) -> JournalCopy? {
        var written: MigrationRecord?
        try await guardedWrite(term, reading: [migrationKey(id)]) { (found) throws(StoreError) in
            var migration = try Self.migration(found[0], id: id)
            if migration.state == state, migration.steps.last?.detail == detail {
                written = migration
                return []  // a retried transaction etcd had already applied
            }
            guard migration.state.canMove(to: state, kind: migration.kind), !state.isFinal else {
                throw StoreError(
                    .invalidTransition,
                    "migration \(id) cannot go from \(migration.state.rawValue) to \(state.rawValue)"
                )
            }
            migration.state = state
            migration.updatedAt = now
            migration.steps.append(MigrationRecord.Step(state: state, at: now, detail: detail))
            written = migration
            return [.put(migrationKey(id), try EtcdJSON.encode(migration))]
        }
        return try Self.copy(of: written, ownership: nil, id: id)
    }

    @discardableResult
    public func abortMigration(
        _ id: String,
        reason: String,
        reasons: String?,
        adoptedBack: Bool,
        at now: Timestamp,
        term: LeaderTerm
    ) async throws(StoreError) -> JournalCopy? {
        // The VM of a migration never changes: a remembered record names it as well as a read one.
        let vm = try Self.migration(try await current(migrationKey(id), term: term), id: id).vm
        var written: MigrationRecord?
        var ownership: Ownership?
        try await guardedWrite(term, reading: [migrationKey(id), vmKey(vm)]) { (found) throws(StoreError) in
            var migration = try Self.migration(found[0], id: id)
            if let key = found[1] {
                ownership = try EtcdJSON.decode(EtcdVMRecord.self, key.value, key: key.key).ownership
            }
            written = migration
            if migration.state == .aborted, migration.abortReason == reason { return [] }
            guard migration.state.canMove(to: .aborted, kind: migration.kind) else {
                throw StoreError(.invalidTransition, "migration \(id) is \(migration.state.rawValue); it cannot abort")
            }
            migration.state = .aborted
            migration.abortReason = reason
            migration.reasons = reasons
            migration.updatedAt = now
            migration.steps.append(MigrationRecord.Step(state: .aborted, at: now, detail: reason))
            written = migration
            var operations: [EtcdOperation] = [.put(migrationKey(id), try EtcdJSON.encode(migration))]
            if let key = found[1] {
                var record = try EtcdJSON.decode(EtcdVMRecord.self, key.value, key: key.key)
                if record.active == id { record.active = nil }
                if adoptedBack, record.owner == migration.source, record.epoch < migration.epoch {
                    record.epoch = migration.epoch
                }
                ownership = record.ownership
                operations.append(.put(key.key, try EtcdJSON.encode(record)))
            }
            return operations
        }
        return try Self.copy(of: written, ownership: ownership, id: id)
    }

    @discardableResult
    public func commitMigration(
        _ id: String,
        at now: Timestamp,
        term: LeaderTerm
    ) async throws(StoreError) -> JournalCopy? {
        // The VM of a migration never changes: a remembered record names it as well as a read one.
        let vm = try Self.migration(try await current(migrationKey(id), term: term), id: id).vm
        var written: MigrationRecord?
        var ownership: Ownership?
        try await guardedWrite(term, reading: [migrationKey(id), vmKey(vm)]) { (found) throws(StoreError) in
            var migration = try Self.migration(found[0], id: id)
            if let key = found[1] {
                ownership = try EtcdJSON.decode(EtcdVMRecord.self, key.value, key: key.key).ownership
            }
            written = migration
            if migration.state == .committed { return [] }
            guard migration.state.canMove(to: .committed, kind: migration.kind) else {
                throw StoreError(
                    .invalidTransition,
                    "migration \(id) is \(migration.state.rawValue); only an adopted migration commits"
                )
            }
            guard let key = found[1] else {
                throw StoreError(.danglingReference, "the cluster does not know VM \(vm.rawValue)")
            }
            var record = try EtcdJSON.decode(EtcdVMRecord.self, key.value, key: key.key)
            record.owner = migration.target
            record.epoch = migration.epoch
            record.reserved = max(record.reserved, migration.epoch)
            if record.active == id { record.active = nil }
            migration.state = .committed
            migration.updatedAt = now
            migration.steps.append(
                MigrationRecord.Step(
                    state: .committed,
                    at: now,
                    detail: "owner \(migration.target), epoch \(migration.epoch)"
                )
            )
            written = migration
            ownership = record.ownership
            return [.put(key.key, try EtcdJSON.encode(record)), .put(migrationKey(id), try EtcdJSON.encode(migration))]
        }
        return try Self.copy(of: written, ownership: ownership, id: id)
    }

    /// What a journal write left, for the coordinator's copy.
    static func copy(of written: MigrationRecord?, ownership: Ownership?, id: String) throws(StoreError) -> JournalCopy
    {
        guard let written else { throw StoreError(.unavailable, "the write of migration \(id) decided nothing") }
        return JournalCopy(record: written, ownership: ownership)
    }

    public func migration(id: String) async throws(StoreError) -> MigrationRecord? {
        guard let key = try await get(migrationKey(id)) else { return nil }
        return try EtcdJSON.decode(MigrationRecord.self, key.value, key: key.key)
    }

    public func activeMigrations() async throws(StoreError) -> [MigrationRecord] {
        try await journal().filter { !$0.state.isFinal }
    }

    public func history(vm: VMID?, limit: Int) async throws(StoreError) -> [MigrationRecord] {
        Array(try await journal().filter { vm == nil || $0.vm == vm }.prefix(limit))
    }

    /// Every journal record, newest first (by creation time, then by the order etcd created them).
    func journal() async throws(StoreError) -> [MigrationRecord] {
        var records: [(MigrationRecord, Int64)] = []
        for key in try await all("migration/") {
            records.append((try EtcdJSON.decode(MigrationRecord.self, key.value, key: key.key), key.createRevision))
        }
        return Self.newestFirst(records)
    }

    // MARK: Nodes and policy

    public func setNodeState(
        _ node: NodeName,
        to state: NodeState,
        because: String,
        actor: String,
        at now: Timestamp,
        term: LeaderTerm
    ) async throws(StoreError) {
        let record = try EtcdJSON.encode(EtcdNodeRecord(state: state, because: because, actor: actor, at: now))
        try await guardedWrite(term, reading: []) { (_) throws(StoreError) in [.put(nodeKey(node), record)] }
    }

    public func nodeStates() async throws(StoreError) -> [NodeName: NodeState] {
        var states: [NodeName: NodeState] = [:]
        for key in try await all("node/") {
            states[NodeName(String(key.key.dropFirst(prefix.count + 5)))] =
                try EtcdJSON.decode(EtcdNodeRecord.self, key.value, key: key.key).state
        }
        return states
    }

    public func savePolicy(_ policy: PlacementPolicy, for vm: VMID, term: LeaderTerm) async throws(StoreError) {
        let record = try EtcdJSON.encode(EtcdPolicyRecord(policy))
        try await guardedWrite(term, reading: []) { (_) throws(StoreError) in [.put(policyKey(vm), record)] }
    }

    public func saveClass(_ antiAffinityClass: AntiAffinityClass, term: LeaderTerm) async throws(StoreError) {
        let record = try EtcdJSON.encode(EtcdClassRecord(enforced: antiAffinityClass.enforced))
        try await guardedWrite(term, reading: []) { (_) throws(StoreError) in
            [.put(classKey(antiAffinityClass.name), record)]
        }
    }

    /// Classes whose enforcement was set, and (not enforced) every class a policy names, as the embedded store has.
    public func classes() async throws(StoreError) -> [String: Bool] {
        var classes: [String: Bool] = [:]
        for policy in try await policies().values {
            if let name = policy.antiAffinityClass { classes[name] = false }
        }
        for key in try await all("class/") {
            classes[String(key.key.dropFirst(prefix.count + 6))] =
                try EtcdJSON.decode(EtcdClassRecord.self, key.value, key: key.key).enforced
        }
        return classes
    }

    public func policies() async throws(StoreError) -> [VMID: PlacementPolicy] {
        var policies: [VMID: PlacementPolicy] = [:]
        for key in try await all("policy/") {
            policies[VMID(String(key.key.dropFirst(prefix.count + 7)))] =
                try EtcdJSON.decode(EtcdPolicyRecord.self, key.value, key: key.key).policy
        }
        return policies
    }

    public func changes(since revision: Int64?) async throws(StoreError) -> CriticalChanges {
        let (keys, asOf) = try await etcdCall { () async throws(EtcdError) in
            try await etcd.range(prefix: prefix, changedAfter: revision)
        }
        var changes = CriticalChanges(owners: [:], journal: [], nodeStates: [:], policies: [:], revision: asOf)
        var journal: [(MigrationRecord, Int64)] = []
        for key in keys {
            let name = key.key.dropFirst(prefix.count)
            if name.hasPrefix("vm/") {
                let record = try EtcdJSON.decode(EtcdVMRecord.self, key.value, key: key.key)
                changes.owners[VMID(String(name.dropFirst(3)))] = Ownership(owner: record.owner, epoch: record.epoch)
            } else if name.hasPrefix("migration/") {
                journal.append((try EtcdJSON.decode(MigrationRecord.self, key.value, key: key.key), key.createRevision))
            } else if name.hasPrefix("node/") {
                changes.nodeStates[NodeName(String(name.dropFirst(5)))] =
                    try EtcdJSON.decode(EtcdNodeRecord.self, key.value, key: key.key).state
            } else if name.hasPrefix("policy/") {
                changes.policies[VMID(String(name.dropFirst(7)))] =
                    try EtcdJSON.decode(EtcdPolicyRecord.self, key.value, key: key.key).policy
            } else if name.hasPrefix("class/") {
                changes.classes[String(name.dropFirst(6))] =
                    try EtcdJSON.decode(EtcdClassRecord.self, key.value, key: key.key).enforced
            }
        }
        changes.journal = Self.newestFirst(journal)
        return changes
    }

    // MARK: Moving backends

    public func seed(_ state: CriticalState, term: LeaderTerm) async throws(StoreError) -> Int {
        var records: [(key: String, value: [UInt8])] = []
        for (vm, claim) in state.claims.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let record = EtcdVMRecord(
                name: claim.name,
                owner: claim.ownership.owner,
                epoch: claim.ownership.epoch,
                reserved: max(claim.ownership.epoch, claim.reserved),
                active: state.journal.first { $0.vm == vm && !$0.state.isFinal }?.id
            )
            records.append((vmKey(vm), try EtcdJSON.encode(record)))
        }
        // Oldest first, so etcd's creation order (history's tie-break) follows the journal's.
        for migration in state.journal.reversed() {
            records.append((migrationKey(migration.id), try EtcdJSON.encode(migration)))
        }
        for (node, nodeState) in state.nodeStates.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let record = EtcdNodeRecord(
                state: nodeState,
                because: "carried over from the embedded database",
                actor: "seed",
                at: Timestamp(millisecondsSinceEpoch: 0)
            )
            records.append((nodeKey(node), try EtcdJSON.encode(record)))
        }
        for (vm, policy) in state.policies.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            records.append((policyKey(vm), try EtcdJSON.encode(EtcdPolicyRecord(policy))))
        }
        for (name, enforced) in state.classes.sorted(by: { $0.key < $1.key }) where enforced {
            records.append((classKey(name), try EtcdJSON.encode(EtcdClassRecord(enforced: enforced))))
        }
        // In batches well under etcd's default of 128 operations per transaction; a key already there is kept.
        var written = 0
        var start = records.startIndex
        var renewed = ContinuousClock.now
        while start < records.endIndex {
            let batch = records[start..<min(start + 50, records.endIndex)]
            start += 50
            // A seed of a whole cluster outlasts the leader lease many times over, and the leadership loop that
            // renews it is the one running the seed: renewed here, between batches.
            if ContinuousClock.now - renewed > .milliseconds(250) {
                try await keepLeading(term)
                renewed = .now
            }
            // Into a fresh prefix every key is absent: written without reading any, one round trip per batch (issue
            // 27: a read per key took the seed of 80,000 VMs over a minute). Any key there already: read and kept.
            if try await putIfAllAbsent(batch, term: term) {
                written += batch.count
                continue
            }
            var missing: [(key: String, value: [UInt8])] = []
            try await guardedWrite(term, reading: batch.map(\.key)) { (found) throws(StoreError) in
                missing = zip(batch, found).filter { $0.1 == nil }.map(\.0)
                return missing.map { .put($0.key, $0.value) }
            }
            written += missing.count
        }
        return written
    }

    /// Puts every record in one transaction if the writer still leads and none of the keys exists; whether it did.
    func putIfAllAbsent(
        _ records: ArraySlice<(key: String, value: [UInt8])>,
        term: LeaderTerm
    ) async throws(StoreError) -> Bool {
        let compare = [EtcdComparison.created(leaderKey, at: term.token)] + records.map { .absent($0.key) }
        let result = try await etcdCall { () async throws(EtcdError) in
            try await etcd.transaction(
                EtcdTransaction(
                    compare: compare,
                    success: records.map { .put($0.key, $0.value) },
                    failure: [.get(leaderKey)]
                )
            )
        }
        if result.succeeded { return true }
        guard result.ranges.first?.first?.createRevision == term.token else { throw notLeader(term) }
        return false
    }

    /// Renews the term's etcd lease (without reading the leader key, as `renew` does); `notLeader` when it is gone.
    func keepLeading(_ term: LeaderTerm) async throws(StoreError) {
        guard let lease = leases.withLock({ $0[term.token] }), try await keepAlive(lease) else { throw notLeader(term) }
    }

    /// Renews `lease`; whether etcd still holds it.
    func keepAlive(_ lease: Int64) async throws(StoreError) -> Bool {
        do {
            return try await etcd.keepAlive(lease) > 0
        } catch  where error.code == .notFound {
            return false  // expired: etcd forgot the lease and deleted its keys
        } catch {
            throw StoreError(.unavailable, "etcd: \(error.message)")
        }
    }

    // MARK: Plumbing

    /// Reads `keys`, lets `decide` turn what it found into operations, and commits them only if the writer still
    /// leads and none of the keys changed since they were read; retries a lost race on the keys from a fresh read.
    ///
    /// The first attempt takes a key this term's writes put from `written` instead of reading it: a leader is the
    /// only writer, so it is almost always current, and the compare on its revision catches the rare time it is not.
    /// A lost compare, or a refusal or a "made already" that `decide` found in remembered values, is tried again from
    /// a fresh read. A failover's five journal writes read nothing after the plan's read of the VM (each read was as
    /// slow as a write under load).
    func guardedWrite(
        _ term: LeaderTerm,
        reading keys: [String],
        decide: ([EtcdKeyValue?]) throws(StoreError) -> [EtcdOperation]
    ) async throws(StoreError) {
        for attempt in 0..<16 {
            var found: [EtcdKeyValue?] = []
            var remembered = false
            for key in keys {
                if attempt == 0, let known = written.value(of: key, term: term) {
                    found.append(known)
                    remembered = true
                } else {
                    found.append(try await get(key))
                }
            }
            let operations: [EtcdOperation]
            do {
                operations = try decide(found)
            } catch {
                guard remembered else { throw error }
                written.forget(keys)
                continue
            }
            if operations.isEmpty {
                // "Already made" is only believed from etcd itself (a retried write that had landed).
                guard remembered else { return }
                written.forget(keys)
                continue
            }
            var compare: [EtcdComparison] = []
            var touched = Set(keys)
            for (key, value) in zip(keys, found) {
                compare.append(value.map { .unchanged(key, since: $0.modRevision) } ?? .absent(key))
            }
            for operation in operations {
                switch operation {
                case .put(let key, _, _), .delete(let key), .get(let key): touched.insert(key)
                }
            }
            let write = EtcdGroupCommit.Write(term: term.token, compare: compare, operations: operations, keys: touched)
            let outcome = try await etcdCall { () async throws(EtcdError) in try await group.commit(write) }
            if case .committed(let revision) = outcome {
                written.remember(
                    operations,
                    read: Dictionary(zip(keys, found)) { first, _ in first },
                    at: revision,
                    term: term
                )
                return
            }
            written.forget(keys)
            guard outcome == .lost else { throw notLeader(term) }
        }
        throw StoreError(.conflict, "the write kept losing races with another writer; try again")
    }

    /// A key's value: as this term last put it, or read.
    func current(_ key: String, term: LeaderTerm) async throws(StoreError) -> EtcdKeyValue? {
        if let known = written.value(of: key, term: term) { return known }
        return try await get(key)
    }

    func get(_ key: String) async throws(StoreError) -> EtcdKeyValue? {
        try await etcdCall { () async throws(EtcdError) in try await etcd.get(key) }
    }

    func all(_ section: String) async throws(StoreError) -> [EtcdKeyValue] {
        try await etcdCall { () async throws(EtcdError) in try await etcd.range(prefix: prefix + section) }
    }

    /// Journal records newest first: by creation time, then by the order etcd created their keys (history's order on
    /// the embedded store too).
    static func newestFirst(_ records: [(MigrationRecord, createRevision: Int64)]) -> [MigrationRecord] {
        records.sorted { ($0.0.createdAt, $0.1) > ($1.0.createdAt, $1.1) }.map(\.0)
    }

    static func migration(_ key: EtcdKeyValue?, id: String) throws(StoreError) -> MigrationRecord {
        guard let key else { throw StoreError(.danglingReference, "no migration \(id)") }
        return try EtcdJSON.decode(MigrationRecord.self, key.value, key: key.key)
    }

    func notLeader(_ term: LeaderTerm) -> StoreError {
        StoreError(
            .notLeader,
            "\(term.leader.name) is no longer the leader (its etcd leader key of term \(term.token) is gone); "
                + "the write was not made"
        )
    }

    func etcdCall<T>(_ body: () async throws(EtcdError) -> T) async throws(StoreError) -> T {
        do {
            return try await body()
        } catch  where error.code == .uncertain {
            // Still 503 (nothing was confirmed), but the administrator must not take it for "not done".
            throw StoreError(
                .unavailable,
                "etcd: \(error.message). The change was neither made nor refused: check whether it took effect "
                    + "before repeating it"
            )
        } catch {
            throw StoreError(.unavailable, "etcd: \(error.message)")
        }
    }
}
