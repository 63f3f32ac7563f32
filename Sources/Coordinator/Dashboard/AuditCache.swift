import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Synchronization

/// The last full audit, for the dashboard's cluster-wide pages (overview, VMs, audit).
///
/// A full audit reads every file of every VM (seconds at SPEC §9 scale), and in a live cluster something commits every
/// few seconds (heartbeats, probe results), so no page can wait for a fresh one. A page is served from the last audit,
/// with its time ("as of"); when the database has changed since, a fresh audit is computed in the background for the
/// next page. Only the very first page after the coordinator starts waits for one. Pages about one VM (`vmDetail`),
/// what-if and history never use this cache: they are read fresh.
final class AuditCache: Sendable {
    struct Entry: Sendable {
        let commits: Int
        let at: Timestamp
        let nodes: [String]
        let risks: [Risk]
        /// Every VM's summary, sorted by name.
        let summaries: [VMSummaryJSON]
    }

    private let state = Mutex<(entry: Entry?, refreshing: Bool)>((nil, false))

    /// The last audit, starting a fresh one in the background when the database changed since (the first call
    /// computes one and waits for it).
    func current(_ coordinator: Coordinator) throws -> Entry {
        let commits = coordinator.store.commits.value
        let (cached, startRefresh) = state.withLock { state -> (Entry?, Bool) in
            guard let entry = state.entry else { return (nil, false) }
            guard entry.commits != commits, !state.refreshing else { return (entry, false) }
            state.refreshing = true
            return (entry, true)
        }
        if startRefresh { refreshInBackground(coordinator) }
        if let cached { return cached }
        return try compute(coordinator)
    }

    /// Starts a fresh audit now (after a dashboard action), unless one is under way.
    func refresh(_ coordinator: Coordinator) {
        let start = state.withLock { state -> Bool in
            guard !state.refreshing else { return false }
            state.refreshing = true
            return true
        }
        if start { refreshInBackground(coordinator) }
    }

    private func refreshInBackground(_ coordinator: Coordinator) {
        Task.detached { [self] in
            _ = try? compute(coordinator)
            state.withLock { $0.refreshing = false }
        }
    }

    @discardableResult
    private func compute(_ coordinator: Coordinator) throws -> Entry {
        // Read the count first: a commit during the read leaves the entry marked older than the data it holds.
        let commits = coordinator.store.commits.value
        let audit = try coordinator.audit()
        let entry = Entry(
            commits: commits,
            at: audit.view.now,
            nodes: audit.view.nodes.keys.map(\.rawValue).sorted(),
            risks: audit.risks,
            summaries: Coordinator.vmSummaries(audit)
        )
        state.withLock { state in
            if state.entry.map({ $0.commits <= commits }) ?? true { state.entry = entry }
        }
        return entry
    }
}
