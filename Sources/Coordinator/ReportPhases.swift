/// Where the time of one agent report went.
///
/// Reading its body, decoding and validating the JSON, turning entries into the model, and the store's transactions.
/// Recorded as `chainkeeper_report_phase_seconds` and logged (at notice past 1 s), so an administrator can tell a slow
/// network from a slow disk.
struct ReportPhases: Sendable {
    enum Phase: String, CaseIterable, Sendable {
        case body, decode, validate, model, store
    }

    private var mark = ContinuousClock.now
    private(set) var spent: [(Phase, Duration)] = []

    /// Ends `phase` now: it took the time since the previous phase ended (or since this value was made).
    mutating func end(_ phase: Phase) {
        let now = ContinuousClock.now
        spent.append((phase, now - mark))
        mark = now
    }

    /// The time of every phase ended so far.
    var total: Duration { spent.reduce(Duration.zero) { $0 + $1.1 } }

    /// "1.204 s (body 0.012, decode 0.262, …)".
    var summary: String {
        Self.seconds(total) + " s ("
            + spent.map { "\($0.0.rawValue) \(Self.seconds($0.1))" }.joined(separator: ", ") + ")"
    }

    private static func seconds(_ duration: Duration) -> String {
        let milliseconds = Int((duration / .milliseconds(1)).rounded())
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
