import ChainModel
import ClusterEtcd
import Synchronization

/// The keys a coordinator's guarded writes put, as put: the value, its revision and the term that wrote it, so the
/// next write of the same key compares against that revision without reading it first.
///
/// Only a hint: every write still compares the revision, so a value changed since (by a seed, a claim, another
/// coordinator) makes the compare fail and the write read afresh. Entries of another term are never used. Bounded:
/// past `capacity` keys it starts again empty (a failover touches two keys per VM, tens at a time).
final class WrittenKeys: Sendable {
    static let capacity = 4096

    private let entries = Mutex<[String: (term: Int64, value: EtcdKeyValue)]>([:])

    func value(of key: String, term: LeaderTerm) -> EtcdKeyValue? {
        entries.withLock { entries in
            guard let entry = entries[key], entry.term == term.token else { return nil }
            return entry.value
        }
    }

    /// Remembers the puts of a transaction that committed at `revision`; `read` is what the write compared against
    /// (its create revision and version carry over), deletes are forgotten.
    func remember(_ operations: [EtcdOperation], read: [String: EtcdKeyValue?], at revision: Int64, term: LeaderTerm) {
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            for operation in operations {
                switch operation {
                case .put(let key, let value, let lease):
                    let before = read[key] ?? nil
                    entries[key] = (
                        term.token,
                        EtcdKeyValue(
                            key: key,
                            value: value,
                            createRevision: before?.createRevision ?? revision,
                            modRevision: revision,
                            version: (before?.version ?? 0) + 1,
                            lease: lease ?? 0
                        )
                    )
                case .delete(let key):
                    entries[key] = nil
                case .get:
                    break
                }
            }
        }
    }

    func forget(_ keys: [String]) {
        entries.withLock { entries in for key in keys { entries[key] = nil } }
    }
}
