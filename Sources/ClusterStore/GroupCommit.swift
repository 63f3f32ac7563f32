import ChainModel
import Foundation
import GRDB
import Synchronization

/// Journal writes of concurrent operations committed together, each still durable before its caller goes on
/// (issue 27).
///
/// Every journal step is a `synchronous=FULL` commit, and SQLite has one writer: a 1,250-VM failover's 6,250 steps were
/// 6,250 fsyncs in a row, most of its ten seconds. Here the first caller to find no commit under way leads: it takes
/// every write waiting, runs each in a savepoint of one transaction (a write that throws is rolled back alone and its
/// caller gets the error), commits, wakes their callers, and repeats until none waits. A caller returns only after the
/// commit that holds its write, so nothing is acknowledged that a power loss could take back; what changes is that one
/// fsync covers several operations' steps. Callers block their thread, as a GRDB write does.
final class GroupCommit: Sendable {
    private final class Waiter: @unchecked Sendable {
        let work: @Sendable (Database) throws -> Void
        /// Set by the leader before `done` is signalled, read by the waiter after.
        var error: (any Error)?
        let done = DispatchSemaphore(value: 0)

        init(_ work: @escaping @Sendable (Database) throws -> Void) { self.work = work }
    }

    private struct State {
        var waiting: [Waiter] = []
        var committing = false
    }

    private let state = Mutex(State())
    /// Whether batches commit at `synchronous=NORMAL` (copies of what etcd already synced, `ClusterStore.copyJournal`).
    private let relaxed: Bool
    /// Writes per transaction at most, so one fsync never waits for an unbounded batch.
    static let batchLimit = 64

    /// `relaxed`: commit at `synchronous=NORMAL`, for writes whose authority is elsewhere; the connection is set back to
    /// FULL after each batch.
    init(relaxed: Bool = false) { self.relaxed = relaxed }

    /// Writes waiting for the next commit (for tests).
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Runs `work` in a transaction shared with other callers' writes; returns once it is committed.
    func write(_ writer: DatabasePool, _ work: @escaping @Sendable (Database) throws -> Void) throws {
        let mine = Waiter(work)
        let leads = state.withLock { state in
            state.waiting.append(mine)
            guard !state.committing else { return false }
            state.committing = true
            return true
        }
        if leads {
            while let batch = next() {
                commit(batch, writer)
                for waiter in batch where waiter !== mine { waiter.done.signal() }
            }
        } else {
            mine.done.wait()
        }
        if let error = mine.error { throw error }
    }

    /// The writes waiting (at most `batchLimit`), or nil when none is, which ends this leader's turn.
    private func next() -> [Waiter]? {
        state.withLock { state in
            guard !state.waiting.isEmpty else {
                state.committing = false
                return nil
            }
            let batch = Array(state.waiting.prefix(Self.batchLimit))
            state.waiting.removeFirst(batch.count)
            return batch
        }
    }

    private func commit(_ batch: [Waiter], _ writer: DatabasePool) {
        func run(_ db: Database) {
            for waiter in batch {
                do {
                    try db.inSavepoint {
                        try waiter.work(db)
                        return .commit
                    }
                } catch {
                    waiter.error = error
                }
            }
        }
        do {
            if relaxed {
                try writer.writeAtNormalSync { db in run(db) }
            } else {
                try writer.write { db in run(db) }
            }
        } catch {
            // The transaction itself failed (its commit, say): no write of the batch happened.
            for waiter in batch { waiter.error = error }
        }
    }
}

extension DatabasePool {
    /// `body` in one transaction committed at `synchronous=NORMAL`, the writer set back to FULL afterwards whether it
    /// committed or not: only for copies of what etcd has already synced (docs/decisions.md "Several coordinators").
    func writeAtNormalSync<T>(_ body: (Database) throws -> T) throws -> T {
        try writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            let result = Result { () throws -> T in
                var value: [T] = []
                try db.inTransaction(.immediate) {
                    value = [try body(db)]
                    return .commit
                }
                guard let committed = value.first else { throw StoreError(.unavailable, "the copy was not written") }
                return committed
            }
            try db.execute(sql: "PRAGMA synchronous = FULL")
            return try result.get()
        }
    }
}
