import ArgumentParser
import ClusterAPI
import Foundation

/// `chainkeeper query "SELECT …"`: read-only SQL over the views of docs/query.md.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Run one read-only SELECT over the documented views (vms, checkpoints, files, nodes, volumes, …).",
        discussion: "Writes, ATTACH, PRAGMA (except table_info) and load_extension are refused by the coordinator."
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "One SELECT statement.") var sql: String

    func run() async throws {
        let result = try await options.post("/v1/query", body: QueryRequest(sql: sql), as: QueryResponse.self)
        if try options.printJSON(result) { return }
        print(TextTable.render(result.columns, result.rows.map { $0.map(\.display) }), terminator: "")
        if result.truncated {
            FileHandle.standardError.write(
                Data("chainkeeper: only the first \(result.rows.count) rows are shown\n".utf8)
            )
        }
    }
}
