import ChainModel
import ClusterEtcd
import Synchronization

/// Guarded writes of the same term sent to etcd as one transaction when they come at once (a failover runs tens of
/// migrations together): one request, one consensus round and one fsync for all of them, instead of one each.
///
/// The first write to arrive while none is in flight goes alone, at once; writes arriving meanwhile wait for it and
/// then go together, at most `maxWrites` and never two touching the same key (etcd refuses a transaction that puts a
/// key twice). The joint transaction compares the term's leader key once and every key each write read; if etcd
/// refuses it because one write's key changed, each write is sent again alone so that only that one loses its race.
/// A request that fails (or whose outcome is unknown) fails every write in it, as it would have failed each alone.
final class EtcdGroupCommit: Sendable {
    /// One guarded write: the comparisons of the keys it read, the operations to apply if they hold, every key it
    /// reads or writes.
    struct Write: Sendable {
        var term: Int64
        var compare: [EtcdComparison]
        var operations: [EtcdOperation]
        var keys: Set<String>
    }

    enum Outcome: Sendable, Equatable {
        case committed(revision: Int64)
        /// A key the write read changed since: read again and decide again.
        case lost
        /// The term ended.
        case notLeader
    }

    /// Writes per joint transaction: each has at most three comparisons and two puts, and etcd allows 128
    /// operations per transaction by default.
    static let maxWrites = 32

    private struct Waiting {
        var write: Write
        var continuation: CheckedContinuation<Outcome, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var flying = false
    }

    private let state = Mutex(State())
    private let leaderKey: String
    private let send: @Sendable (EtcdTransaction) async throws(EtcdError) -> EtcdTransactionResult

    /// Transactions this group commit sent, and writes they carried (for the benchmark and the tests).
    private let counts = Mutex((transactions: 0, writes: 0))

    init(
        leaderKey: String,
        send: @escaping @Sendable (EtcdTransaction) async throws(EtcdError) -> EtcdTransactionResult
    ) {
        self.leaderKey = leaderKey
        self.send = send
    }

    var sent: (transactions: Int, writes: Int) { counts.withLock { $0 } }

    func commit(_ write: Write) async throws(EtcdError) -> Outcome {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let leads = state.withLock { state -> Bool in
                    state.queue.append(Waiting(write: write, continuation: continuation))
                    guard !state.flying else { return false }
                    state.flying = true
                    return true
                }
                if leads { Task { await self.drain() } }
            }
        } catch let error as EtcdError {
            throw error
        } catch {
            throw EtcdError(.unavailable, "\(error)")
        }
    }

    /// Sends batches until none is waiting.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                let batch = Self.take(&state.queue)
                if batch.isEmpty { state.flying = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            await run(batch)
        }
    }

    /// The next batch from `queue`, in arrival order: writes of the first one's term, no key twice.
    private static func take(_ queue: inout [Waiting]) -> [Waiting] {
        guard let term = queue.first?.write.term else { return [] }
        var batch: [Waiting] = []
        var keys = Set<String>()
        var left: [Waiting] = []
        for waiting in queue {
            if batch.count < maxWrites, waiting.write.term == term, keys.isDisjoint(with: waiting.write.keys) {
                keys.formUnion(waiting.write.keys)
                batch.append(waiting)
            } else {
                left.append(waiting)
            }
        }
        queue = left
        return batch
    }

    private func run(_ batch: [Waiting]) async {
        do {
            let outcome = try await attempt(batch.map(\.write))
            if outcome != .lost || batch.count == 1 {
                for waiting in batch { waiting.continuation.resume(returning: outcome) }
                return
            }
        } catch {
            for waiting in batch { waiting.continuation.resume(throwing: error) }
            return
        }
        // One write's key changed: each alone, so only that one loses.
        for waiting in batch {
            do {
                waiting.continuation.resume(returning: try await attempt([waiting.write]))
            } catch {
                waiting.continuation.resume(throwing: error)
            }
        }
    }

    /// One transaction carrying `writes`.
    private func attempt(_ writes: [Write]) async throws(EtcdError) -> Outcome {
        guard let term = writes.first?.term else { return .lost }
        counts.withLock {
            $0.transactions += 1
            $0.writes += writes.count
        }
        let result = try await send(
            EtcdTransaction(
                compare: [.created(leaderKey, at: term)] + writes.flatMap(\.compare),
                success: writes.flatMap(\.operations),
                failure: [.get(leaderKey)]
            )
        )
        if result.succeeded { return .committed(revision: result.revision) }
        return result.ranges.first?.first?.createRevision == term ? .lost : .notLeader
    }
}
