import GRDB
import Synchronization

/// Counts the commits that change what placement decisions read, so that the coordinator's placement view can be kept
/// until the next one.
///
/// A heartbeat (an update of `node.last_heartbeat_at` alone) does not count: 64 agents heartbeat every two seconds,
/// and no placement decision reads the heartbeat time. The first change of a transaction marks it and stops further
/// notifications for that transaction, so large writes pay for one callback, not one per row.
public final class CommitCounter: TransactionObserver, Sendable {
    private let count = Atomic<Int>(0)
    private let dirty = Atomic<Bool>(false)

    public var value: Int { count.load(ordering: .acquiring) }

    public func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        if case .update(let table, let columns) = eventKind, table == "node",
            columns.isSubset(of: ["last_heartbeat_at"])
        {
            return false
        }
        return true
    }

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
