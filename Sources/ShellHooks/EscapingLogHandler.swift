import ChainModel
import Logging

/// Wraps a log handler so that every message and metadata value has its control characters escaped (`PrintableText`): a
/// VM, path or message an agent sent cannot forge a log line with a newline or drive the terminal a log is read on
/// (issue 20).
///
/// One place, so that no log call can forget it.
public struct EscapingLogHandler: LogHandler {
    public var base: any LogHandler

    public init(base: any LogHandler) { self.base = base }

    public var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue.mapValues(Self.escape) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue.map(Self.escape) }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(PrintableText.escape(event.message.description))"
        event.metadata = event.metadata.map { $0.mapValues(Self.escape) }
        base.log(event: event)
    }

    public static func escape(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): .string(PrintableText.escape(text))
        case .stringConvertible(let value): .string(PrintableText.escape(value.description))
        case .array(let values): .array(values.map(escape))
        case .dictionary(let values): .dictionary(values.mapValues(escape))
        }
    }
}
