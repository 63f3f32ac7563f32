import GRDB
import Synchronization

/// The `vm` rows whose placement (id, name, owner, state or memory) committed transactions inserted, changed or
/// deleted, so that the coordinator's placement view re-reads just those rows after a commit instead of all of them: at
/// 80,000 VMs each full rebuild took 70-150 ms, and a failover commits hundreds of times a second (docs/benchmarks.md).
///
/// The maintained audit keeps a log of its own columns the same way (`ClusterStore.auditColumns`).
///
/// Each reader of the log registers its own (`ClusterStore.logPlacementChanges()`), since `take()` empties it. Between
/// two takes it keeps at most `capacity` row ids; past that `take()` says the list is incomplete and the reader reads
/// every row, which is then the cheaper way anyway. GRDB drops the events of a rolled-back transaction or savepoint.
/// A row id names a row, not a VM: a deleted VM's row id can be given to a new VM, which the reader must notice.
public final class PlacementChangeLog: TransactionObserver, Sendable {
    /// The columns of `vm` a placement reads.
    public static let columns: Set<String> = ["id", "name", "owner", "state", "memory_mib"]

    /// The columns of `vm` whose changes this log records (an insert or delete of a row always counts).
    public let watched: Set<String>

    /// The row ids changed since the last `take()`, and whether that list is all of them.
    public struct Taken: Sendable, Equatable {
        public var rowIDs: Set<Int64>
        public var complete: Bool

        public init(rowIDs: Set<Int64>, complete: Bool) {
            self.rowIDs = rowIDs
            self.complete = complete
        }
    }

    private struct Committed {
        var rowIDs: Set<Int64> = []
        var overflowed = false
    }

    public let capacity: Int
    private let pending = Mutex<Set<Int64>>([])
    private let committed = Mutex(Committed())

    /// Up to 16 Ki rows between takes (128 KiB); more, and a full read is as cheap.
    public init(capacity: Int = 16_384, watching watched: Set<String> = PlacementChangeLog.columns) {
        self.capacity = capacity
        self.watched = watched
    }

    /// The rows changed since the last call.
    public func take() -> Taken {
        committed.withLock { state in
            defer { state = Committed() }
            return Taken(rowIDs: state.rowIDs, complete: !state.overflowed)
        }
    }

    public func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        switch eventKind {
        case .insert(let table), .delete(let table):
            return table == "vm"
        case .update(let table, let columns):
            return table == "vm" && !columns.isDisjoint(with: watched)
        }
    }

    public func databaseDidChange(with event: DatabaseEvent) {
        let rowID = event.rowID
        pending.withLock { _ = $0.insert(rowID) }
    }

    public func databaseDidCommit(_ db: Database) {
        let rowIDs = pending.withLock { pending in
            defer { pending = [] }
            return pending
        }
        guard !rowIDs.isEmpty else { return }
        committed.withLock { state in
            guard !state.overflowed else { return }
            state.rowIDs.formUnion(rowIDs)
            if state.rowIDs.count > capacity {
                state.rowIDs = []
                state.overflowed = true
            }
        }
    }

    public func databaseDidRollback(_ db: Database) { pending.withLock { $0 = [] } }
}

extension ClusterStore {
    /// A new log of the placement changes this store's commits make from now on, for one reader.
    public func logPlacementChanges() -> PlacementChangeLog { logChanges(of: PlacementChangeLog.columns) }

    /// A new log of the changes to these columns of `vm` this store's commits make from now on, for one reader.
    public func logChanges(of columns: Set<String>) -> PlacementChangeLog {
        let log = PlacementChangeLog(watching: columns)
        writer.writeWithoutTransaction { db in db.add(transactionObserver: log, extent: .databaseLifetime) }
        return log
    }
}
