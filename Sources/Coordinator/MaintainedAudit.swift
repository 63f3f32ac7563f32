import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Synchronization

/// The audit as a read of maintained state (issue 27): `audit`, `vms`, `vms --stranded` and the dashboard's cluster
/// pages come from here, never from a read of every file in the cluster.
///
/// Each VM is known by its `VMAuditFacts`, rebuilt only when the owner's report of it changes (its fingerprint in the
/// database); placement, policies, node states, reachability, listings, blocks and lost volumes are read afresh at
/// each audit, because they are small. A VM whose facts cannot rule out every risk (a file with a problem, a volume
/// some possible owner does not reach, a listing elsewhere, ...) is judged in full by the same `ClusterAudit.vmRisks`
/// the full audit uses, and kept in memory while its report stays the same: memory grows with the VMs at risk, not
/// with the cluster. `ClusterAudit.risks` over a whole snapshot stays as the consistency check
/// (`MaintainedAuditTests`).
final class MaintainedAudit: Sendable {
    struct Result: Sendable {
        let view: ClusterView
        let risks: [Risk]
        /// Every VM, in the audit's order (name, then id).
        let vms: [VMAuditFacts]
        /// The lost volumes it was judged with (their durations grow by the moment).
        let lost: [NodeName: [VolumeID: Duration]]
    }

    private struct State: Sendable {
        var facts: [VMID: VMAuditFacts] = [:]
        /// The VMs that may carry a risk, in full, with the report they were read from.
        var suspects: [VMID: (vm: VM, digest: String?)] = [:]
        /// `facts` in audit order, while no VM came, went or was renamed.
        var order: [VMID]?
        /// The facts in that order, while none changed.
        var list: [VMAuditFacts]?
        /// The cluster-wide inputs (without the rows) as of a commit count: with no commit since, nothing in the
        /// database changed, and an audit reads nothing from it (heartbeats do not count as commits).
        var inputs: (commits: Int, inputs: ClusterStore.AuditInputs)?
        /// Changes to the rows' columns since the last read (made before the first one).
        var log: PlacementChangeLog?
        /// The VM of each `vm` row id, so that a deleted row's VM is known.
        var rowIDs: [Int64: VMID] = [:]
    }

    private let state = Mutex(State())
    /// VMs read in full per query when their facts are rebuilt (bounded, so a first audit of a large cluster never
    /// holds every file at once).
    static let batch = 500

    /// The audit now.
    ///
    /// One runs at a time; a second caller waits for the first and then reads again.
    func audit(_ coordinator: Coordinator) throws -> Result {
        try state.withLock { state throws -> Result in try Self.refresh(&state, coordinator) }
    }

    private static func refresh(_ state: inout State, _ coordinator: Coordinator) throws -> Result {
        // Read the count first: a commit during the reads below makes the next audit read again.
        let commits = coordinator.store.commits.value
        let view = try coordinator.placementView()
        let unchanged = state.inputs?.commits == commits
        var inputs: ClusterStore.AuditInputs
        // The rows changed since the last read, taken before this one: a commit meanwhile is read again next time.
        var changedRows: Set<Int64>?
        if let kept = state.inputs, kept.commits == commits {
            inputs = kept.inputs
        } else {
            if let log = state.log {
                let taken = log.take()
                if taken.complete, state.order != nil { changedRows = taken.rowIDs }
            } else {
                state.log = coordinator.store.logChanges(of: ClusterStore.auditColumns)
            }
            // After a commit only the rows it changed: reading all 80,000 made every audit after a commit (most of
            // them, in a live cluster) take 215-290 ms.
            do {
                inputs = try coordinator.store.auditInputs(rowIDs: changedRows)
            } catch {
                // The changes taken are not applied: the next audit reads every row.
                state.order = nil
                throw error
            }
        }
        let lost = coordinator.lostVolumes
        let reach = AuditReach(view)
        func isSuspect(_ facts: VMAuditFacts) -> Bool {
            ClusterAudit.mayHaveRisks(
                facts,
                view: view,
                reach: reach,
                listedOn: inputs.foreignListings[facts.id],
                blocked: inputs.blocked[facts.id] != nil,
                lost: lost[facts.owner]
            )
        }

        if !unchanged {
            do {
                try update(&state, rows: inputs.rows, only: changedRows, coordinator: coordinator, isSuspect: isSuspect)
            } catch {
                state.order = nil
                throw error
            }
            inputs.rows = []
            state.inputs = (commits, inputs)
        }
        let order = state.order ?? []

        // Which VMs must be judged in full, and which of those must be read first.
        var suspects: [VMID] = []
        var missing: [VMID] = []
        for id in order {
            guard let facts = state.facts[id] else { continue }
            guard isSuspect(facts) else {
                state.suspects[id] = nil
                continue
            }
            suspects.append(id)
            if let held = state.suspects[id], held.digest != nil, held.digest == facts.digest { continue }
            missing.append(id)
        }
        for start in stride(from: 0, to: missing.count, by: batch) {
            let ids = Array(missing[start..<min(start + batch, missing.count)])
            for (vm, digest) in try coordinator.store.vmsWithDigests(ids) { state.suspects[vm.id] = (vm, digest) }
        }

        var risks: [Risk] = []
        for id in suspects {
            guard var vm = state.suspects[id]?.vm, let facts = state.facts[id] else { continue }
            // Owner and epoch change by commits, which leave the report (and so the held VM) as it was.
            vm.ownership = Ownership(owner: facts.owner, epoch: facts.epoch)
            vm.state = facts.state
            vm.name = facts.name
            vm.highlyAvailable = facts.highlyAvailable
            risks += ClusterAudit.vmRisks(
                vm,
                view: view,
                reach: reach.reach,
                listedOn: inputs.foreignListings[id],
                blocked: inputs.blocked[id],
                lost: lost[facts.owner]
            )
        }
        risks += ClusterAudit.clusterRisks(
            view,
            unusedDisks: inputs.unusedDisks,
            inventoryErrors: inputs.inventoryErrors
        )
        let list = state.list ?? order.compactMap { state.facts[$0] }
        state.list = list
        return Result(
            view: view,
            risks: ClusterAudit.ordered(risks),
            vms: list,
            lost: lost
        )
    }

    /// Takes the rows' owners, epochs, states and names into the facts, reads the facts of VMs whose report changed
    /// (in batches), forgets VMs that are gone, and sorts again when a VM came, went or was renamed.
    ///
    /// `only`: the row ids `rows` were read for (a row not among `rows` was deleted); `nil` when `rows` is every VM.
    private static func update(
        _ state: inout State,
        rows: [ClusterStore.AuditRow],
        only rowIDs: Set<Int64>?,
        coordinator: Coordinator,
        isSuspect: (VMAuditFacts) -> Bool
    ) throws {
        var stale: [VMID] = []
        var changed = false
        var orderKept = state.order != nil
        for row in rows {
            guard var facts = state.facts[row.id], facts.digest != nil, facts.digest == row.digest else {
                stale.append(row.id)
                continue
            }
            if facts.name == row.name, facts.owner == row.owner, facts.epoch == row.epoch, facts.state == row.state,
                facts.highlyAvailable == row.highlyAvailable
            {
                continue
            }
            if facts.name != row.name { orderKept = false }
            facts.name = row.name
            facts.owner = row.owner
            facts.epoch = row.epoch
            facts.state = row.state
            facts.highlyAvailable = row.highlyAvailable
            state.facts[row.id] = facts
            changed = true
        }
        for start in stride(from: 0, to: stale.count, by: batch) {
            let ids = Array(stale[start..<min(start + batch, stale.count)])
            for (vm, digest) in try coordinator.store.vmsWithDigests(ids) {
                let facts = VMAuditFacts(vm, digest: digest)
                // A VM new to the audit, or renamed, has another place in its order.
                if state.facts[vm.id]?.name != facts.name { orderKept = false }
                state.facts[vm.id] = facts
                // Only a VM that may carry a risk stays in full: a first audit never holds the whole cluster.
                state.suspects[vm.id] = isSuspect(facts) ? (vm, digest) : nil
            }
        }
        // The VMs gone: those whose row was deleted (or given to another VM), or, after a full read, every VM not read.
        var gone: [VMID] = []
        if let rowIDs {
            let read = Set(rows.map(\.id))
            let byRowID = Dictionary(rows.map { ($0.rowID, $0.id) }, uniquingKeysWith: { first, _ in first })
            for rowID in rowIDs {
                if let old = state.rowIDs[rowID], old != byRowID[rowID], !read.contains(old) { gone.append(old) }
                state.rowIDs[rowID] = byRowID[rowID]
            }
        } else {
            let present = Set(rows.map(\.id))
            gone = state.facts.keys.filter { !present.contains($0) }
            state.rowIDs = Dictionary(rows.map { ($0.rowID, $0.id) }, uniquingKeysWith: { first, _ in first })
        }
        for id in gone where state.facts.removeValue(forKey: id) != nil {
            state.suspects[id] = nil
            orderKept = false
        }
        if !orderKept {
            state.order = state.facts.values.sorted(by: VMAuditFacts.auditOrder).map(\.id)
            changed = true
        }
        if changed || !stale.isEmpty { state.list = nil }
    }
}

extension Coordinator {
    /// `vms`: one summary per VM from the maintained audit, in its order.
    static func vmSummaries(_ audit: MaintainedAudit.Result) -> [VMSummaryJSON] {
        var codes: [VMID: Set<String>] = [:]
        for risk in audit.risks { if let vm = risk.vmID { codes[vm, default: []].insert(risk.code.rawValue) } }
        let stranded = ClusterAudit.strandedVMs(audit.risks)
        return audit.vms.map { vm in
            VMSummaryJSON(
                name: vm.name,
                id: vm.id.rawValue,
                owner: vm.owner.rawValue,
                state: vm.state.rawValue,
                highlyAvailable: audit.view.policy(for: vm.id).highlyAvailable ?? vm.highlyAvailable,
                stranded: stranded.contains(vm.id),
                epoch: vm.epoch.rawValue,
                checkpoints: vm.checkpointCount,
                risks: (codes[vm.id] ?? []).sorted()
            )
        }
    }
}
