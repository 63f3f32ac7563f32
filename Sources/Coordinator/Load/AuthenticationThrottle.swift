import Synchronization

/// Slows failed authentication per peer address (SPEC §8: repeated failures from one address are answered 429 with
/// `Retry-After`).
///
/// Past `ServerLimits.failedAuthenticationsPerMinute` failures within a minute, each further failure from the address
/// is answered 429 after a one-second pause, until the minute is over. A valid credential is never refused:
/// agents and admins that share an address (a NAT, or one host on loopback) with a client guessing tokens keep
/// working, while the guesses slow to one a second per open connection.
final class AuthenticationThrottle: Sendable {
    let limit: Int
    /// Addresses remembered at most (the oldest window is dropped first).
    static let capacity = 10_000
    private struct Window {
        var start: ContinuousClock.Instant
        var failures: Int
    }
    private let windows = Mutex<[String: Window]>([:])

    init(limit: Int) { self.limit = max(1, limit) }

    /// Records a failure from `address`; returns how many seconds the caller should be told to wait (and is held) when
    /// the address is over its limit, or `nil` for a plain 401.
    func failed(from address: String, now: ContinuousClock.Instant = .now) -> Int? {
        windows.withLock { windows in
            var window = windows[address] ?? Window(start: now, failures: 0)
            if now - window.start >= .seconds(60) { window = Window(start: now, failures: 0) }
            window.failures += 1
            if windows[address] == nil, windows.count >= Self.capacity,
                let oldest = windows.min(by: { $0.value.start < $1.value.start })?.key
            {
                windows[oldest] = nil
            }
            windows[address] = window
            guard window.failures > limit else { return nil }
            let left = .seconds(60) - (now - window.start)
            return max(1, Int(left.components.seconds))
        }
    }
}
