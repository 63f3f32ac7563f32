import ChainModel
import ClusterAuthority
import ClusterStore
import Logging

/// Every write of the state that must never diverge, made through the `CoordinationStore` with this coordinator's
/// term, then copied into its own database when the backend is etcd.
///
/// A write without a term (a standby), or one the backend refuses because the term has ended, is the 503
/// `not-leader` refusal; the coordinator then stops leading at once.
struct CriticalWrites: Sendable {
    /// Where the state lives: the embedded store itself, or etcd.
    let authority: any CoordinationStore
    /// This coordinator's own database (a copy of that state when the authority is etcd).
    let store: ClusterStore
    let leadership: Leadership

    func planMigration(
        vm: VMID,
        source: NodeName,
        target: NodeName,
        kind: MigrationRecord.Kind,
        requestedBy: String,
        operation: String? = nil,
        at now: Timestamp
    ) async throws -> MigrationRecord {
        try await guarded { term in
            let plan = { () async throws(StoreError) -> MigrationRecord in
                try await authority.planMigration(
                    vm: vm,
                    source: source,
                    target: target,
                    kind: kind,
                    requestedBy: requestedBy,
                    operation: operation,
                    at: now,
                    term: term
                )
            }
            let record: MigrationRecord
            do {
                record = try await plan()
            } catch let error as StoreError where error.code == .danglingReference && !authority.isEmbedded {
                // etcd does not know a VM reported since the last claim round: claimed now (an earlier owner would
                // be kept), then planned. Claiming only then saves a consensus write on every other plan.
                guard let known = try store.claimable(vm) else { throw error }
                _ = try await authority.claim(
                    vm,
                    name: known.name,
                    owner: known.ownership.owner,
                    epoch: known.ownership.epoch,
                    reserved: known.reserved,
                    term: term
                )
                record = try await plan()
            }
            // The plan changes no owner or epoch: the record alone is copied.
            try copy(authority.isEmbedded ? nil : JournalCopy(record: record, ownership: nil))
            return record
        }
    }

    func advanceMigration(
        _ id: String,
        to state: MigrationRecord.State,
        detail: String?,
        at now: Timestamp
    ) async throws {
        try await guarded { term in
            try copy(try await authority.advanceMigration(id, to: state, detail: detail, at: now, term: term))
        }
    }

    func abortMigration(
        _ id: String,
        reason: String,
        reasons: String?,
        adoptedBack: Bool = false,
        at now: Timestamp
    ) async throws {
        try await guarded { term in
            try copy(
                try await authority.abortMigration(
                    id,
                    reason: reason,
                    reasons: reasons,
                    adoptedBack: adoptedBack,
                    at: now,
                    term: term
                )
            )
        }
    }

    func commitMigration(_ id: String, at now: Timestamp) async throws {
        try await guarded { term in
            try copy(try await authority.commitMigration(id, at: now, term: term))
        }
    }

    func setNodeState(
        _ node: NodeName,
        to state: NodeState,
        because: String,
        actor: String,
        at now: Timestamp
    ) async throws {
        try await guarded { term in
            try await authority.setNodeState(node, to: state, because: because, actor: actor, at: now, term: term)
            // The local write also keeps the event history.
            if !authority.isEmbedded {
                try store.setNodeState(node, to: state, because: because, actor: actor, at: now)
            }
        }
    }

    func savePolicy(_ policy: PlacementPolicy, for vm: VMID) async throws {
        try await guarded { term in
            try await authority.savePolicy(policy, for: vm, term: term)
            if !authority.isEmbedded { try store.savePolicy(policy, for: vm) }
        }
    }

    func saveClass(_ antiAffinityClass: AntiAffinityClass) async throws {
        try await guarded { term in
            try await authority.saveClass(antiAffinityClass, term: term)
            if !authority.isEmbedded { try store.saveClass(antiAffinityClass) }
        }
    }

    /// Throws `not-leader` unless this coordinator leads now: a migration it drives stops sending commands the moment
    /// it is a standby (its agents' answers would be refused), and the next leader's recovery finishes it.
    func requireLeadership() throws {
        _ = try leadership.requireTerm()
    }

    /// Runs `body` with the current term; a `not-leader` answer ends this coordinator's leadership.
    private func guarded<T>(_ body: (LeaderTerm) async throws -> T) async throws -> T {
        let term = try leadership.requireTerm()
        do {
            return try await body(term)
        } catch let error as StoreError where error.code == .notLeader {
            leadership.stepDown()
            Logger(label: "chainkeeperd.coordinator").error(
                "leadership lost during a write; now a standby: \(error.message)"
            )
            throw leadership.notLeader()
        }
    }

    /// Copies what a write left in etcd (one journal record, and its VM's owner and epoch when the write changed
    /// them) into this coordinator's database, as the write returned it: nothing is read back.
    private func copy(_ written: JournalCopy?) throws {
        guard let written else { return }
        try store.copyJournal(written)
    }
}
