import ChainModel
import GRDB

extension ClusterStore {
    /// Creates or updates a node.
    ///
    /// `registeredAt` is kept from the first save.
    public func saveNode(_ node: Node, at now: Timestamp) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO node (name, state, driver, memory_mib, registered_at, last_heartbeat_at,
                                          last_inventory_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT(name) DO UPDATE SET
                            state = excluded.state, driver = excluded.driver, memory_mib = excluded.memory_mib,
                            last_heartbeat_at = excluded.last_heartbeat_at,
                            last_inventory_at = excluded.last_inventory_at
                        """,
                    arguments: [
                        node.name.rawValue, node.state.rawValue, node.driver?.rawValue, node.memoryMiB,
                        now.databaseValue, node.lastHeartbeatAt?.databaseValue, node.lastInventoryAt?.databaseValue,
                    ]
                )
            }
        }
    }

    /// Records an agent's heartbeat: creates the node (up) if this is the first the cluster hears of it, and otherwise
    /// only moves its heartbeat time.
    public func recordHeartbeat(of node: NodeName, at now: Timestamp) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                // An update of the heartbeat time alone, so that it does not invalidate the placement view
                // (`CommitCounter`); a node heard of for the first time is inserted.
                try db.execute(
                    sql: "UPDATE node SET last_heartbeat_at = ? WHERE name = ?",
                    arguments: [now.databaseValue, node.rawValue]
                )
                if db.changesCount == 0 {
                    try db.execute(
                        sql: "INSERT INTO node (name, state, registered_at, last_heartbeat_at) VALUES (?, 'up', ?, ?)",
                        arguments: [node.rawValue, now.databaseValue, now.databaseValue]
                    )
                }
            }
        }
    }

    /// Every node, by name.
    public func nodes() throws(StoreError) -> [Node] {
        let rows = try translatingErrors {
            try writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM node ORDER BY name") }
        }
        return try rows.map { row throws(StoreError) in try Self.node(from: row) }
    }

    /// One node, or `nil` if the cluster does not know it.
    public func node(named name: NodeName) throws(StoreError) -> Node? {
        let row = try translatingErrors {
            try writer.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM node WHERE name = ?", arguments: [name.rawValue])
            }
        }
        return try row.map { row throws(StoreError) in try Self.node(from: row) }
    }

    static func node(from row: Row) throws(StoreError) -> Node {
        Node(
            name: NodeName(row["name"] as String),
            state: try RowDecoding.enumValue(NodeState.self, row, "state"),
            driver: try RowDecoding.optionalEnum(InventoryDriver.self, row, "driver"),
            memoryMiB: row["memory_mib"],
            lastInventoryAt: RowDecoding.timestamp(row, "last_inventory_at"),
            lastHeartbeatAt: RowDecoding.timestamp(row, "last_heartbeat_at")
        )
    }
}
