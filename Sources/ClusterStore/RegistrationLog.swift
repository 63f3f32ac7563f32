import GRDB
import Synchronization

/// The VMs committed transactions registered (rows inserted into `vm`), so that an etcd leader claims just those
/// instead of reading every VM of its database: at 80,000 VMs that read took a fifth of a core, and during a node's
/// first report it ran again after each step (docs/benchmarks.md).
///
/// Between two `take()`s it keeps at most `capacity` row ids; past that (a coordinator that does not lead takes none)
/// `take()` says the list is incomplete and the taker reads the whole table. A rolled-back registration is not kept,
/// and an upsert of a known VM is an update, not a registration.
public final class RegistrationLog: TransactionObserver, Sendable {
    /// What `take()` returns: the row ids in `vm` registered since the last take, and whether that list is all of
    /// them.
    public struct Taken: Sendable, Equatable {
        public var rowIDs: [Int64]
        public var complete: Bool

        public init(rowIDs: [Int64], complete: Bool) {
            self.rowIDs = rowIDs
            self.complete = complete
        }
    }

    private struct Committed {
        var rowIDs: [Int64] = []
        var overflowed = false
        var commits = 0
    }

    /// Row ids bounded by `capacity`: at most 64 Ki ids (512 KiB) wait for a leader that never takes them.
    public let capacity: Int
    private let pending = Mutex<[Int64]>([])
    private let committed = Mutex(Committed())

    public init(capacity: Int = 65_536) { self.capacity = capacity }

    /// Commits that registered at least one VM.
    public var value: Int { committed.withLock { $0.commits } }

    /// The VMs registered since the last call, oldest first.
    public func take() -> Taken {
        committed.withLock { state in
            defer {
                state.rowIDs = []
                state.overflowed = false
            }
            return Taken(rowIDs: state.rowIDs, complete: !state.overflowed)
        }
    }

    public func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        if case .insert(let table) = eventKind { return table == "vm" }
        return false
    }

    public func databaseDidChange(with event: DatabaseEvent) {
        guard event.kind == .insert else { return }
        let rowID = event.rowID
        pending.withLock { $0.append(rowID) }
    }

    public func databaseDidCommit(_ db: Database) {
        let rowIDs = pending.withLock { pending in
            defer { pending = [] }
            return pending
        }
        guard !rowIDs.isEmpty else { return }
        committed.withLock { state in
            state.commits += 1
            guard !state.overflowed else { return }
            if state.rowIDs.count + rowIDs.count > capacity {
                state.rowIDs = []
                state.overflowed = true
            } else {
                state.rowIDs += rowIDs
            }
        }
    }

    public func databaseDidRollback(_ db: Database) { pending.withLock { $0 = [] } }
}
