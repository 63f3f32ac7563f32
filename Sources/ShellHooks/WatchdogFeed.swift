import Foundation

/// The file through which an agent feeds its watchdog (SPEC §6): one line, replaced atomically.
///
/// - `armed MS TIMEOUT_MS`: fed at `MS` on `MonotonicClock`; fence if no newer feed comes within `TIMEOUT_MS`.
/// - `disarmed`: the agent holds no lease (it fenced itself, or was never admitted): nothing to guard.
/// - `exit`: the agent stopped and owns nothing: the watchdog exits.
///
/// A file rather than a pipe so that a restarted agent feeds the watchdog its predecessor started: an agent upgrade
/// does not fence the node, provided the new agent is admitted within the timeout.
public enum WatchdogFeed: Equatable, Sendable {
    case armed(fedAt: Int64, timeoutMilliseconds: Int64)
    case disarmed
    case exit

    public var line: String {
        switch self {
        case .armed(let fedAt, let timeout): "armed \(fedAt) \(timeout)\n"
        case .disarmed: "disarmed\n"
        case .exit: "exit\n"
        }
    }

    public init?(line: String) {
        let words = line.split(whereSeparator: \.isWhitespace)
        switch words.first {
        case "armed":
            guard words.count == 3, let fedAt = Int64(words[1]), let timeout = Int64(words[2]) else { return nil }
            self = .armed(fedAt: fedAt, timeoutMilliseconds: timeout)
        case "disarmed": self = .disarmed
        case "exit": self = .exit
        default: return nil
        }
    }

    /// Replaces the file's content in one rename.
    public func write(to path: String) throws {
        try Data(line.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The file's current content, or `nil` when it is missing or unreadable.
    public static func read(from path: String) -> WatchdogFeed? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return WatchdogFeed(line: String(decoding: data, as: UTF8.self))
    }
}
