import ChainModel

/// A reading of a monotonic clock, in milliseconds from an arbitrary origin.
///
/// Leases are counted on it (SPEC §6) because a wall clock can jump. The core never reads a clock: the agent and the
/// coordinator hand it their `ContinuousClock` readings, the simulator its virtual time. Only readings of the same
/// clock are compared.
public struct MonotonicTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func < (lhs: MonotonicTime, rhs: MonotonicTime) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public static func + (lhs: MonotonicTime, rhs: Duration) -> MonotonicTime {
        MonotonicTime(milliseconds: lhs.milliseconds + rhs.wholeMilliseconds)
    }

    public static func - (lhs: MonotonicTime, rhs: Duration) -> MonotonicTime {
        MonotonicTime(milliseconds: lhs.milliseconds - rhs.wholeMilliseconds)
    }

    /// The time from `earlier` to `self`.
    public func since(_ earlier: MonotonicTime) -> Duration { .milliseconds(milliseconds - earlier.milliseconds) }

    public var description: String { "\(milliseconds)ms" }
}
