/// `POST /v1/query`: one read-only SELECT over the documented views.
public struct QueryRequest: Codable, Sendable, Hashable {
    public var sql: String

    public init(sql: String) { self.sql = sql }
}

/// The rows of a query, each cell a JSON null, number or string.
public struct QueryResponse: Codable, Sendable, Hashable {
    public var columns: [String]
    public var rows: [[QueryCell]]
    /// More rows matched than the coordinator returns (10,000).
    public var truncated: Bool

    public init(columns: [String], rows: [[QueryCell]], truncated: Bool) {
        self.columns = columns
        self.rows = rows
        self.truncated = truncated
    }
}

public enum QueryCell: Codable, Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .real(value)
        } else {
            self = .text(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .integer(let value): try container.encode(value)
        case .real(let value): try container.encode(value)
        case .text(let value): try container.encode(value)
        }
    }

    /// The cell as a table shows it.
    public var display: String {
        switch self {
        case .null: "NULL"
        case .integer(let value): String(value)
        case .real(let value): String(value)
        case .text(let value): value
        }
    }
}
