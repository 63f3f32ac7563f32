import ChainModel
import Foundation
import Yams

/// A daemon's config file (SPEC §2), YAML or JSON, read the one way both daemons read theirs: composed into a YAML
/// mapping, scalar keys overridden by `CHAINKEEPERD_<KEY>` variables, decoded with Codable into the daemon's raw
/// structure, then validated by the daemon.
///
/// Unknown keys are warnings; a bad value is an error that names its key.
public struct ConfigFile {
    /// The file's name in messages.
    public let source: String
    public var mapping: Yams.Node.Mapping
    /// What was ignored (unknown keys), for the log.
    public var warnings: [String]

    public static func read(path: String) throws(ConfigFileError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigFileError("cannot read \(path): \(error.localizedDescription)")
        }
    }

    /// Composes `text`, which must be a map; keys not in `knownKeys` are warned about.
    public init(_ text: String, source: String, knownKeys: Set<String>) throws(ConfigFileError) {
        self.source = source
        do {
            guard case .mapping(let root)? = try Yams.compose(yaml: text) else {
                throw ConfigFileError("\(source) is not a map of keys to values")
            }
            mapping = root
        } catch let error as ConfigFileError {
            throw error
        } catch {
            throw ConfigFileError("\(source) is not valid YAML or JSON: \(error)")
        }
        warnings = mapping.keys.compactMap(\.string).filter { !knownKeys.contains($0) }.sorted().map {
            "unknown key '\($0)' in \(source) ignored"
        }
    }

    /// Sets each key whose variable is in `environment` to that variable's value.
    public mutating func override(_ keys: [(key: String, variable: String)], from environment: [String: String]) {
        for (key, variable) in keys {
            if let value = environment[variable] { mapping[key] = Yams.Node(value) }
        }
    }

    /// Warns about the keys of a nested map (`fence`, `limits`, …) that are not in `known`.
    public mutating func warnAboutUnknownKeys(under key: String, known: Set<String>) {
        guard case .mapping(let nested)? = mapping[key] else { return }
        warnings += nested.keys.compactMap(\.string).filter { !known.contains($0) }.sorted().map {
            "unknown key '\(key).\($0)' in \(source) ignored"
        }
    }

    /// The mapping decoded into `type`; a value of the wrong shape is an error naming its key, with `shapes[key]`
    /// ("fence must be {command: STRING, timeout: DURATION}") where the top-level key has one.
    public func decode<T: Decodable>(_ type: T.Type, shapes: [String: String] = [:]) throws(ConfigFileError) -> T {
        do {
            return try YAMLDecoder().decode(T.self, from: Yams.Node.mapping(mapping))
        } catch {
            throw ConfigFileError("\(source): \(Self.describe(error, shapes: shapes))")
        }
    }

    /// A duration key: absent gives `value`; otherwise a positive duration such as "10s".
    public func duration(_ raw: String?, key: String, default value: Duration) throws(ConfigFileError) -> Duration {
        guard let raw else { return value }
        guard let parsed = DurationText.parse(raw), parsed > .zero else {
            throw ConfigFileError("\(source): \(key) must be a duration such as \"10s\" or \"5m\", got '\(raw)'")
        }
        return parsed
    }

    static func describe(_ error: any Error, shapes: [String: String]) -> String {
        let path: [any CodingKey]
        let detail: String
        switch error {
        case DecodingError.typeMismatch(let type, let context), DecodingError.valueNotFound(let type, let context):
            path = context.codingPath
            detail = "must be \(typeName(type))"
        case DecodingError.dataCorrupted(let context):
            path = context.codingPath
            detail = context.debugDescription
        case DecodingError.keyNotFound(let key, let context):
            path = context.codingPath + [key]
            detail = "is required"
        default:
            return "\(error)"
        }
        let dotted = path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            .replacingOccurrences(of: ".[", with: "[")
        if let top = path.first?.stringValue, let shape = shapes[top] { return shape + " (\(dotted) \(detail))" }
        return "\(dotted) \(detail)"
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "a whole number"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        case is [String].Type: "a list of strings"
        case is [String: String].Type: "a map of strings"
        default: "\(type)"
        }
    }
}

/// A config that cannot be used, with what to fix.
public struct ConfigFileError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A list given as a YAML list, or as one comma-separated string (how an environment variable gives one).
public struct ConfigList: Decodable, Sendable, Equatable {
    public var values: [String]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            values = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } else {
            values = try container.decode([String].self)
        }
    }
}
