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
    /// Time spent on another thread while the phases above ran (`ReportPipeline`): not part of `total`.
    private(set) var ahead: [(Phase, Duration)] = []

    /// Ends `phase` now: it took the time since the previous phase ended (or since this value was made).
    mutating func end(_ phase: Phase) {
        let now = ContinuousClock.now
        spent.append((phase, now - mark))
        mark = now
    }

    /// Records `duration` of `phase` spent on another thread, overlapping the phases ended here.
    mutating func spentAhead(_ phase: Phase, _ duration: Duration) {
        ahead.append((phase, duration))
    }

    /// The time of every phase ended so far.
    var total: Duration { spent.reduce(Duration.zero) { $0 + $1.1 } }

    /// "1.204 s (body 0.012, decode 0.262, …)", and "; while storing: decode 0.301, …" when entries were read ahead.
    var summary: String {
        func list(_ phases: [(Phase, Duration)]) -> String {
            phases.map { "\($0.0.rawValue) \(Self.seconds($0.1))" }.joined(separator: ", ")
        }
        return Self.seconds(total) + " s (" + list(spent) + (ahead.isEmpty ? "" : "; while storing: " + list(ahead))
            + ")"
    }

    private static func seconds(_ duration: Duration) -> String {
        let milliseconds = Int((duration / .milliseconds(1)).rounded())
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
