import ChainModel
import ClusterStore
import DecisionEngine
import Synchronization

/// The engine's view of the cluster around a judged VM (nodes, mounts, policies, classes, operations, and a light
/// placement per VM with node load), kept until the next commit on the cluster database.
///
/// The coordinator is the database's only writer, so an unchanged commit count means an unchanged cluster; only the
/// clock moves, and the view takes `now` afresh on each use. After a commit the view is brought up to date from the
/// small tables and the `vm` rows whose placement changed (`PlacementChangeLog`), not rebuilt from all 80,000: a
/// failover commits hundreds of times a second, and the full rebuilds were a quarter of the coordinator's CPU.
///
/// One caller rebuilds at a time; callers that waited for it take its view.
final class PlacementCache: Sendable {
    private struct Entry {
        var commits: Int
        var view: ClusterView
        var builtAt: ContinuousClock.Instant
        /// The VM each row of `vm` held when last read: a row deleted since names no VM, and a row id can be reused.
        var rows: [Int64: VMID]
    }

    private let changes: PlacementChangeLog
    private let cached = Mutex<Entry?>(nil)
    private let rebuilding = Mutex<Void>(())
    /// Full rebuilds and updates from changed rows (tests read them).
    private let counts = Mutex<(full: Int, updates: Int)>((0, 0))

    /// A cache of views of `store`, logging its placement changes from now on.
    init(store: ClusterStore) { changes = store.logPlacementChanges() }

    var rebuilds: (full: Int, updates: Int) { counts.withLock { $0 } }

    /// The view of the whole cluster (light placements for every VM), at `now`.
    func view(store: ClusterStore, now: Timestamp, settings: ClusterSettings) throws -> ClusterView {
        try judged("", store: store, now: now, settings: settings).view
    }

    /// The VM named or identified by `key` in full, and the view around it.
    ///
    /// `maxAge` accepts a view built that recently even if commits came since (a dead node's failovers, each of which
    /// commits, would otherwise bring it up to date once per VM); without it the view is as of the latest commit.
    func judged(
        _ key: String,
        store: ClusterStore,
        now: Timestamp,
        settings: ClusterSettings,
        maxAge: Duration? = nil
    ) throws -> (vms: [VM], view: ClusterView) {
        func usable(_ commits: Int) -> ClusterView? {
            cached.withLock { entry in
                guard let entry else { return nil }
                if entry.commits == commits { return entry.view }
                if let maxAge, ContinuousClock.now - entry.builtAt <= maxAge { return entry.view }
                return nil
            }
        }
        // Read the count first: a commit during the read makes the next call read again.
        if var view = usable(store.commits.value) {
            view.now = now
            return (key.isEmpty ? [] : try store.vms(matching: key), view)
        }
        return try rebuilding.withLock { _ throws -> (vms: [VM], view: ClusterView) in
            let commits = store.commits.value
            if var view = usable(commits) {
                // Rebuilt by the caller this one waited for.
                view.now = now
                return (key.isEmpty ? [] : try store.vms(matching: key), view)
            }
            let built = ContinuousClock.now
            // Taken out, so that its placements move into the new view rather than copy; should the read fail, the next
            // call rebuilds from every row. The log is taken before the read: a row changed after this is read now or
            // logged for the next update, or both.
            let previous = cached.withLock { entry in
                defer { entry = nil }
                return entry
            }
            let changed = changes.take()
            let entry: Entry
            let vms: [VM]
            if var previous, changed.complete {
                let input = try store.placementInput(matching: key, rows: changed.rowIDs)
                Self.update(&previous, with: input, rows: changed.rowIDs, now: now, settings: settings)
                previous.commits = commits
                previous.builtAt = built
                entry = previous
                vms = input.snapshot.vms
                counts.withLock { $0.updates += 1 }
            } else {
                let input = try store.placementInput(matching: key)
                var rows: [Int64: VMID] = Dictionary(minimumCapacity: input.placements.count)
                for placement in input.placements { rows[placement.rowID] = placement.id }
                let view = ClusterView(
                    input.snapshot,
                    placements: input.placements.map(Self.placement),
                    now: now,
                    settings: settings
                )
                entry = Entry(commits: commits, view: view, builtAt: built, rows: rows)
                vms = input.snapshot.vms
                counts.withLock { $0.full += 1 }
            }
            cached.withLock { $0 = entry }
            return (vms, entry.view)
        }
    }

    /// `entry` brought up to date with the rows of `vm` that changed (`input.placements` holds those still there).
    private static func update(
        _ entry: inout Entry,
        with input: PlacementInput,
        rows asked: Set<Int64>,
        now: Timestamp,
        settings: ClusterSettings
    ) {
        var changed: [VMID: VMPlacement?] = [:]
        var read = Set<Int64>()
        for placement in input.placements {
            read.insert(placement.rowID)
            if let earlier = entry.rows[placement.rowID], earlier != placement.id, changed[earlier] == nil {
                // The row now holds another VM: the one it held is gone, unless it is read at another row.
                changed[earlier] = .some(nil)
            }
            entry.rows[placement.rowID] = placement.id
            changed[placement.id] = .some(Self.placement(placement))
        }
        for rowID in asked.subtracting(read) {
            // Deleted: the VM it held is gone, unless it was read at another row just now.
            if let vm = entry.rows.removeValue(forKey: rowID), changed[vm] == nil { changed[vm] = .some(nil) }
        }
        entry.view.apply(input.snapshot, changed: changed, now: now, settings: settings)
    }

    private static func placement(_ row: PlacementInput.Placement) -> VMPlacement {
        VMPlacement(id: row.id, name: row.name, owner: row.owner, state: row.state, memoryMiB: row.memoryMiB)
    }
}
