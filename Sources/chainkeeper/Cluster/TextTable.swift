import ChainModel

/// Aligned columns for human output.
enum TextTable {
    /// Every cell is escaped for the terminal (`PrintableText`): cells hold names and paths from the coordinator.
    static func render(_ headers: [String], _ rows: [[String]]) -> String {
        let rows = rows.map { $0.map(PrintableText.escape) }
        let widths = headers.indices.map { column in
            ([headers[column]] + rows.map { column < $0.count ? $0[column] : "" }).map(\.count).max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}
