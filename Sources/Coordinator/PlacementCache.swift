import ChainModel
import ClusterStore
import DecisionEngine
import Synchronization

/// The engine's view of the cluster around a judged VM (nodes, mounts, policies, classes, operations, and a light
/// placement per VM with node load), kept until the next commit on the cluster database.
///
/// The coordinator is the database's only writer, so an unchanged commit count means an unchanged cluster; only the
/// clock moves, and the view takes `now` afresh on each use.
final class PlacementCache: Sendable {
    private let cached = Mutex<(commits: Int, view: ClusterView)?>(nil)

    /// The view of the whole cluster (light placements for every VM), at `now`.
    func view(store: ClusterStore, now: Timestamp, settings: ClusterSettings) throws -> ClusterView {
        try judged("", store: store, now: now, settings: settings).view
    }

    /// The VM named or identified by `key` in full, and the view around it.
    func judged(
        _ key: String,
        store: ClusterStore,
        now: Timestamp,
        settings: ClusterSettings
    ) throws -> (vms: [VM], view: ClusterView) {
        // Read the count first: a commit during the read makes the next call read again.
        let commits = store.commits.value
        if var view = cached.withLock({ $0?.commits == commits ? $0?.view : nil }) {
            view.now = now
            return (key.isEmpty ? [] : try store.vms(matching: key), view)
        }
        let input = try store.placementInput(matching: key)
        let placements = input.placements.map {
            VMPlacement(id: $0.id, name: $0.name, owner: $0.owner, state: $0.state, memoryMiB: $0.memoryMiB)
        }
        let view = ClusterView(input.snapshot, placements: placements, now: now, settings: settings)
        cached.withLock { $0 = (commits, view) }
        return (input.snapshot.vms, view)
    }
}
