import GRDB
import Synchronization

/// Counts the commits that registered a VM (inserted a row into `vm`), so that an etcd leader scans its database for
/// VMs etcd may not hold only after one was registered, not every round: at 80,000 VMs that scan took a fifth of a
/// core every half second (docs/benchmarks.md).
///
/// A rolled-back registration does not count; a commit that registered several VMs counts once.
public final class RegistrationCounter: TransactionObserver, Sendable {
    private let count = Atomic<Int>(0)
    private let dirty = Atomic<Bool>(false)

    public var value: Int { count.load(ordering: .acquiring) }

    public func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        if case .insert(let table) = eventKind { return table == "vm" }
        return false
    }

    public func databaseDidChange(with event: DatabaseEvent) {
        // An upsert of a known VM is an update: only a new row is a registration.
        guard event.kind == .insert else { return }
        dirty.store(true, ordering: .releasing)
        stopObservingDatabaseChangesUntilNextTransaction()
    }

    public func databaseDidCommit(_ db: Database) {
        if dirty.exchange(false, ordering: .acquiringAndReleasing) { count.add(1, ordering: .releasing) }
    }

    public func databaseDidRollback(_ db: Database) { dirty.store(false, ordering: .releasing) }
}
