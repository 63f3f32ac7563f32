import GRDB
import Synchronization

/// Counts the commits that change what its reader watches, so that something read from the database can be kept until
/// the next one.
///
/// `store.commits` watches what placement decisions read. A heartbeat (an update of `node.last_heartbeat_at` alone)
/// does not count: 64 agents heartbeat every two seconds, and no placement decision reads the heartbeat time. The first
/// change of a transaction marks it and stops further notifications for that transaction, so large writes pay for one
/// callback, not one per row.
public final class CommitCounter: TransactionObserver, Sendable {
    private let count = Atomic<Int>(0)
    private let dirty = Atomic<Bool>(false)
    private let watches: @Sendable (DatabaseEventKind) -> Bool

    /// `watches`: which changes count (by default, every change but a heartbeat time).
    public init(watching watches: @escaping @Sendable (DatabaseEventKind) -> Bool = CommitCounter.placementChanges) {
        self.watches = watches
    }

    /// Every change but an update of `node.last_heartbeat_at` alone.
    public static let placementChanges: @Sendable (DatabaseEventKind) -> Bool = { eventKind in
        if case .update(let table, let columns) = eventKind, table == "node",
            columns.isSubset(of: ["last_heartbeat_at"])
        {
            return false
        }
        return true
    }

    public var value: Int { count.load(ordering: .acquiring) }

    public func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { watches(eventKind) }

    public func databaseDidChange() { markDirty() }

    public func databaseDidChange(with event: DatabaseEvent) { markDirty() }

    public func databaseDidCommit(_ db: Database) {
        if dirty.exchange(false, ordering: .acquiringAndReleasing) { count.add(1, ordering: .releasing) }
    }

    public func databaseDidRollback(_ db: Database) { dirty.store(false, ordering: .releasing) }

    private func markDirty() {
        dirty.store(true, ordering: .releasing)
        stopObservingDatabaseChangesUntilNextTransaction()
    }
}
