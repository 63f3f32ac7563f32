import ChainModel
import GRDB

/// Reads domain values out of rows, refusing values outside their domain with a typed error instead
/// of trapping (the schema's CHECKs make these unreachable unless the file was edited by hand).
enum RowDecoding {
    static func timestamp(_ row: Row, _ column: String) -> Timestamp? {
        (row[column] as Int64?).map { Timestamp(millisecondsSinceEpoch: $0) }
    }

    static func enumValue<E: RawRepresentable>(
        _ type: E.Type,
        _ row: Row,
        _ column: String
    ) throws(StoreError) -> E where E.RawValue == String {
        try domain(E.self, row[column] as String, column)
    }

    static func optionalEnum<E: RawRepresentable>(
        _ type: E.Type,
        _ row: Row,
        _ column: String
    ) throws(StoreError) -> E? where E.RawValue == String {
        guard let raw: String = row[column] else { return nil }
        return try domain(E.self, raw, column)
    }

    /// The same by column position, for hot loops (a name lookup lower-cases the name on every call).
    static func enumValue<E: RawRepresentable>(
        _ type: E.Type,
        _ row: Row,
        at index: Int,
        named column: String
    ) throws(StoreError) -> E where E.RawValue == String {
        try domain(E.self, row[index] as String, column)
    }

    static func optionalEnum<E: RawRepresentable>(
        _ type: E.Type,
        _ row: Row,
        at index: Int,
        named column: String
    ) throws(StoreError) -> E? where E.RawValue == String {
        guard let raw: String = row[index] else { return nil }
        return try domain(E.self, raw, column)
    }

    private static func domain<E: RawRepresentable>(
        _ type: E.Type,
        _ raw: String,
        _ column: String
    ) throws(StoreError) -> E where E.RawValue == String {
        guard let value = E(rawValue: raw) else {
            throw StoreError(.invalidValue, "column \(column) holds '\(raw)', which this version does not know")
        }
        return value
    }
}

extension Timestamp {
    var databaseValue: Int64 { millisecondsSinceEpoch }
}
