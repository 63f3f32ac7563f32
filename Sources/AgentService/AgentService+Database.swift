import Dispatch
import Synchronization

/// The agent database's calls, made on a thread of their own.
///
/// Every commit is synced (`synchronous=FULL`), and an fsync on a busy disk can take seconds; made on the cooperative
/// pool, it would hold one of its few threads, and the heartbeat that renews the lease could wait behind it. The
/// heartbeat itself never touches the database: it sends the outbox depth last counted here.
final class AgentDatabaseWorker: Sendable {
    private let database: AgentDatabase
    private let queue = DispatchQueue(label: "chainkeeper.agent.database")
    private let depth = Mutex(0)

    init(_ database: AgentDatabase) throws(AgentStoreError) {
        self.database = database
        depth.withLock { $0 = (try? database.outboxCount()) ?? 0 }
    }

    /// Reports waiting in the outbox, as last counted (never reads the database).
    var outboxDepth: Int { depth.withLock { $0 } }

    /// Runs `work` against the database on the database thread; the outbox depth is counted again afterwards.
    func run<T: Sendable>(
        _ work: @escaping @Sendable (AgentDatabase) throws(AgentStoreError) -> T
    ) async throws(AgentStoreError) -> T {
        let result: Result<T, AgentStoreError> = await withCheckedContinuation { continuation in
            queue.async {
                let result = Result { () throws(AgentStoreError) -> T in try work(self.database) }
                if let count = try? self.database.outboxCount() { self.depth.withLock { $0 = count } }
                continuation.resume(returning: result)
            }
        }
        return try result.get()
    }
}
