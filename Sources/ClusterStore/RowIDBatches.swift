import GRDB

extension ClusterStore {
    /// Hands each row of `select` (a query over `vm` without a `WHERE`) whose row id is in `rowIDs` to `body`, reading
    /// them in batches of 500 bound parameters (what `RegistrationLog` and `PlacementChangeLog` name); a row since
    /// deleted is simply not read.
    static func forEachRow(
        of select: String,
        rowIDs: some Collection<Int64>,
        in db: Database,
        _ body: (Row) throws -> Void
    ) throws {
        let ids = Array(rowIDs)
        for start in stride(from: 0, to: ids.count, by: 500) {
            let batch = ids[start..<min(start + 500, ids.count)]
            let rows = try Row.fetchCursor(
                db,
                sql: "\(select) WHERE rowid IN (\(Array(repeating: "?", count: batch.count).joined(separator: ", ")))",
                arguments: StatementArguments(Array(batch))
            )
            while let row = try rows.next() { try body(row) }
        }
    }
}
