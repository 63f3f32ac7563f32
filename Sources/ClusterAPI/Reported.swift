import ChainModel

/// A typed value of an agent's report, on the wire as its string (`"Running"`, `"disk"`, `"vhdx"`).
///
/// The agent builds it from the model's enum and the coordinator reads the enum back from it, so both ends go through
/// this one type. It decodes whatever string arrives: an agent newer or odder than the coordinator may send a value
/// the coordinator does not know, which then makes that one entry an inventory error (`value` is `nil`), never a
/// refusal of the node's whole report.
public struct Reported<Value: RawRepresentable & Sendable & Hashable>: Codable, Sendable, Hashable,
    ExpressibleByStringLiteral, CustomStringConvertible
where Value.RawValue == String {
    /// The string as sent.
    public var raw: String

    public init(_ value: Value) { raw = value.rawValue }
    public init(raw: String) { self.raw = raw }
    public init(stringLiteral raw: String) { self.raw = raw }

    /// The value, or `nil` when the string names none this build knows.
    public var value: Value? { Value(rawValue: raw) }

    public var description: String { raw }

    public init(from decoder: any Decoder) throws {
        raw = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(raw)
    }
}
