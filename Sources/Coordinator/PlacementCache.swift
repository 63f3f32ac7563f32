import ChainModel
import ClusterStore
import DecisionEngine
import Synchronization

/// The engine's view of the cluster around a judged VM (nodes, mounts, policies, classes, operations, and a light
/// placement per VM with node load), kept until the next commit on the cluster database.
///
/// The coordinator is the database's only writer, so an unchanged commit count means an unchanged cluster; only the
/// clock moves, and the view takes `now` afresh on each use.
///
/// One caller rebuilds at a time; callers that waited for it take its view. At 80,000 VMs a rebuild reads 80,000
/// placement rows (about 150 ms), so many callers rebuilding together would only share the CPU.
final class PlacementCache: Sendable {
    private let cached = Mutex<(commits: Int, view: ClusterView, builtAt: ContinuousClock.Instant)?>(nil)
    private let rebuilding = Mutex<Void>(())

    /// The view of the whole cluster (light placements for every VM), at `now`.
    func view(store: ClusterStore, now: Timestamp, settings: ClusterSettings) throws -> ClusterView {
        try judged("", store: store, now: now, settings: settings).view
    }

    /// The VM named or identified by `key` in full, and the view around it.
    ///
    /// `maxAge` accepts a view built that recently even if commits came since (a dead node's failovers, each of which
    /// commits, would otherwise rebuild it once per VM); without it the view is as of the latest commit.
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
            let input = try store.placementInput(matching: key)
            let placements = input.placements.map {
                VMPlacement(id: $0.id, name: $0.name, owner: $0.owner, state: $0.state, memoryMiB: $0.memoryMiB)
            }
            let view = ClusterView(input.snapshot, placements: placements, now: now, settings: settings)
            cached.withLock { $0 = (commits, view, built) }
            return (input.snapshot.vms, view)
        }
    }
}
