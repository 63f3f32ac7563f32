import ChainModel
import Foundation
import GRDB
import Synchronization
import Testing

@testable import ClusterStore

/// Issue 27: journal writes that arrive while a commit is under way share the next one; each is still committed before
/// its caller goes on, and one that fails is rolled back alone.
@Suite struct GroupCommitTests {
    @Test func writesWaitingDuringACommitShareTheNextAndAFailingOneIsRolledBackAlone() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        try store.writer.write { db in try db.execute(sql: "CREATE TABLE scratch (x TEXT NOT NULL)") }
        let before = store.commits.value
        let gate = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        let outcomes = Mutex<[String: String]>([:])
        func write(_ name: String, _ work: @escaping @Sendable (Database) throws -> Void) {
            group.enter()
            // A thread each: GCD's pool on two cores would add a thread for a blocked one only after a while.
            Thread {
                do {
                    try store.journal.write(store.writer, work)
                    outcomes.withLock { $0[name] = "committed" }
                } catch {
                    outcomes.withLock { $0[name] = "\(error)" }
                }
                group.leave()
            }
            .start()
        }
        // The first write leads and holds its commit open until three more wait behind it.
        let started = DispatchSemaphore(value: 0)
        write("a") { db in
            try db.execute(sql: "INSERT INTO scratch VALUES ('a')")
            started.signal()
            gate.wait()
        }
        #expect(started.wait(timeout: .now() + 10) == .success)
        write("b") { db in try db.execute(sql: "INSERT INTO scratch VALUES ('b')") }
        write("c") { db in
            try db.execute(sql: "INSERT INTO scratch VALUES ('c')")
            throw StoreError(.conflict, "c refused")
        }
        write("d") { db in try db.execute(sql: "INSERT INTO scratch VALUES ('d')") }
        let deadline = Date().addingTimeInterval(10)
        while store.journal.waitingCount < 3, Date() < deadline { usleep(1000) }
        #expect(store.journal.waitingCount == 3)
        gate.signal()
        #expect(group.wait(timeout: .now() + 10) == .success)
        let rows = try store.writer.read { db in try String.fetchAll(db, sql: "SELECT x FROM scratch ORDER BY x") }
        #expect(rows == ["a", "b", "d"], "c's insert was rolled back with its savepoint")
        let results = outcomes.withLock { $0 }
        #expect(results["a"] == "committed" && results["b"] == "committed" && results["d"] == "committed")
        #expect(results["c"]?.contains("c refused") == true, "\(results)")
        #expect(store.commits.value - before == 2, "a alone, then b, c and d in one transaction")
    }

    /// etcd's journal copies (`ClusterStore.copyJournal`) share transactions the same way, at `synchronous=NORMAL`, and
    /// leave the writer at FULL for the store's own commits.
    @Test func relaxedBatchesCommitAtNormalAndLeaveTheWriterAtFull() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        try store.writer.write { db in try db.execute(sql: "CREATE TABLE scratch (x TEXT NOT NULL, mode INTEGER)") }
        let before = store.commits.value
        let group = DispatchGroup()
        let gate = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        func write(_ name: String, hold: Bool = false) {
            group.enter()
            Thread {
                try? store.copies.write(store.writer) { db in
                    let mode = try Int.fetchOne(db, sql: "PRAGMA synchronous")
                    try db.execute(sql: "INSERT INTO scratch VALUES (?, ?)", arguments: [name, mode])
                    if hold {
                        started.signal()
                        gate.wait()
                    }
                }
                group.leave()
            }
            .start()
        }
        write("a", hold: true)
        #expect(started.wait(timeout: .now() + 10) == .success)
        for name in ["b", "c", "d"] { write(name) }
        let deadline = Date().addingTimeInterval(10)
        while store.copies.waitingCount < 3, Date() < deadline { usleep(1000) }
        #expect(store.copies.waitingCount == 3)
        gate.signal()
        #expect(group.wait(timeout: .now() + 10) == .success)
        let rows = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT x, mode FROM scratch ORDER BY x").map {
                "\($0[0] as String)=\($0[1] as Int)"
            }
        }
        #expect(rows == ["a=1", "b=1", "c=1", "d=1"], "every copy committed at NORMAL (1)")
        #expect(store.commits.value - before == 2, "a alone, then b, c and d in one transaction")
        #expect(try store.writerSynchronousMode() == 2, "the store's own commits are synced again")
    }
}
