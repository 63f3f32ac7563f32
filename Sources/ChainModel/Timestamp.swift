/// A point in wall-clock time, in milliseconds since the Unix epoch.
///
/// The core never reads a clock: every instant it reasons about is handed to it by a shell. Only
/// durations between two instants taken by the same clock are compared.
public struct Timestamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) { self.millisecondsSinceEpoch = millisecondsSinceEpoch }

    public init(secondsSinceEpoch: Int64) {
        let (product, overflow) = secondsSinceEpoch.multipliedReportingOverflow(by: 1000)
        self.millisecondsSinceEpoch = overflow ? (secondsSinceEpoch < 0 ? .min : .max) : product
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }

    /// The time elapsed from `earlier` to `self` (negative if `earlier` is later).
    ///
    /// Saturating, as `+` and `-` are: instants come from storage and from agents, and arithmetic on them never traps.
    public func since(_ earlier: Timestamp) -> Duration {
        .milliseconds(
            Self.saturating(millisecondsSinceEpoch.subtractingReportingOverflow(earlier.millisecondsSinceEpoch))
        )
    }

    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(
            millisecondsSinceEpoch: saturating(
                lhs.millisecondsSinceEpoch.addingReportingOverflow(rhs.wholeMilliseconds)
            )
        )
    }

    public static func - (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(
            millisecondsSinceEpoch: saturating(
                lhs.millisecondsSinceEpoch.subtractingReportingOverflow(rhs.wholeMilliseconds)
            )
        )
    }

    /// The result of an overflowing operation clamped to the representable range (the sign of the wrapped result is
    /// the opposite of the true one).
    private static func saturating(_ result: (partialValue: Int64, overflow: Bool)) -> Int64 {
        guard result.overflow else { return result.partialValue }
        return result.partialValue < 0 ? .max : .min
    }

    public var description: String { "\(millisecondsSinceEpoch)ms" }
}

extension Duration {
    /// The duration truncated to whole milliseconds.
    ///
    /// Saturates at `Int64.min` and `Int64.max` for durations beyond ±292 million years.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (sum, overflowSum) = milliseconds.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        guard !overflowSum else { return milliseconds < 0 ? .min : .max }
        return sum
    }
}
