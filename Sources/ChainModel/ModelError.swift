/// A domain rule broken by input data, with a code scripts can match and a message an
/// administrator can act on.
public struct ModelError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let duplicateCheckpoint = Code(rawValue: "duplicate-checkpoint")
        public static let danglingParent = Code(rawValue: "dangling-parent")
        public static let checkpointCycle = Code(rawValue: "checkpoint-cycle")
        public static let invalidName = Code(rawValue: "invalid-name")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
