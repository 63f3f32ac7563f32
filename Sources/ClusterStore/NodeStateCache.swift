import ChainModel
import GRDB
import Synchronization

/// Every node's stored state, kept in memory until a commit changes the `node` table's names or states, so that a
/// heartbeat reads no database (issue 27).
///
/// Each heartbeat asked SQLite for its node's row: at 640 agents a second that was 12 % of the coordinator's CPU
/// during an etcd failover (a pool read, a transaction, a statement prepared each time). A node's state changes a
/// handful of times in a failover; its heartbeat time (`last_heartbeat_at`) changes every 30 s and is not observed.
///
/// The generation is read before the table is, so a commit that lands during the read makes the next call read again:
/// a cached copy is never older than the generation it is stamped with.
public final class NodeStateCache: Sendable {
    private struct Cached {
        var generation: Int
        /// As stored: a value this version does not know is an error for its own node only.
        var states: [String: String]
    }

    /// The commits that changed a node's name or state, or added or removed a node: registered on the writer.
    let changes = CommitCounter { eventKind in
        switch eventKind {
        case .insert(let table), .delete(let table):
            return table == "node"
        case .update(let table, let columns):
            return table == "node" && !columns.isDisjoint(with: ["name", "state"])
        }
    }
    private let cached = Mutex<Cached?>(nil)
    /// Reads of the whole table (for tests).
    private let readCount = Atomic<Int>(0)

    public init() {}

    /// How many times the table was read.
    public var reads: Int { readCount.load(ordering: .relaxed) }

    /// `node`'s stored state, or nil when no row names it.
    func state(of node: NodeName, in writer: DatabasePool) throws -> NodeState? {
        let current = changes.value
        let states: [String: String]
        if let hit = cached.withLock({ $0?.generation == current ? $0?.states : nil }) {
            states = hit
        } else {
            states = try writer.read { db in
                var states: [String: String] = [:]
                let rows = try Row.fetchCursor(db, sql: "SELECT name, state FROM node")
                while let row = try rows.next() { states[row[0]] = row[1] }
                return states
            }
            readCount.add(1, ordering: .relaxed)
            cached.withLock { cached in
                // A newer reader may have stored a newer copy meanwhile.
                if (cached?.generation ?? -1) <= current { cached = Cached(generation: current, states: states) }
            }
        }
        guard let raw = states[node.rawValue] else { return nil }
        guard let state = NodeState(rawValue: raw) else {
            throw StoreError(.invalidValue, "column state holds '\(raw)', which this version does not know")
        }
        return state
    }
}

extension ClusterStore {
    /// `node`'s stored state from memory (`NodeStateCache`), or nil when no such node is stored.
    public func nodeState(named node: NodeName) throws(StoreError) -> NodeState? {
        try translatingErrors { try nodeStates.state(of: node, in: writer) }
    }
}
