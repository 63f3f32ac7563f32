import ChainModel
import ClusterAPI
import ClusterStore
import Foundation
import Synchronization

/// The `vms` entries of a large report decoded, checked against their bounds and modelled `ReportBatch.vmsPerStep` at
/// a time on two threads of their own (at the report lane's niceness), while the store applies the entries before them
/// (docs/decisions.md "A large report is stored while it is read").
///
/// A 1,000-VM report is 10 MiB of JSON: decoding, checking and modelling it took 0.4-0.6 s before the store's first
/// step could begin; now the store starts after the first 200 entries. The first entry that does not decode or is
/// out of its bounds stops the report there: the parts before it are given to the store, the rest are not, and
/// `failure` says why, as the whole document's decoding or `AgentReport.validate()` would have.
final class ReportPipeline: ReportPartSource {
    /// Why the entries stopped.
    enum Failure: Sendable {
        /// An entry is not valid JSON for this API version: the whole document's decoding error.
        case json(any Error)
        /// An entry is out of its bounds.
        case field(ReportFieldError)
    }

    /// Time the pipeline's thread spent in each phase, overlapping the store's.
    struct Spent: Sendable {
        var decode = Duration.zero
        var validate = Duration.zero
        var model = Duration.zero
    }

    private struct State {
        /// Each part's place, filled by whichever thread decodes it.
        var slots: [ReportPart.Next?]
        var failures: [Failure?]
        var taken = 0
        /// The first part found not to decode or out of bounds: no part after it is decoded.
        var stoppedAt = Int.max
        var spent = Spent()
        var cancelled = false
    }

    /// Threads decoding parts, each taking every `threads`-th part: two, since the store of a report whose VMs are all
    /// known writes little and then waits for its entries.
    static let threads = 2

    /// How long the store waits for one part (200 entries take about 50 ms).
    static let partDeadlineSeconds = 120

    private let state: Mutex<State>
    /// One per part, signalled when it is in its slot.
    private let published: [DispatchSemaphore]
    private let parts: Int

    /// Starts decoding `entries` (ranges of `body`, as `ReportSplit` found them) of `node`'s report, whose volumes are
    /// `knownVolumes`; `keyOf` makes an entry digest's `vm.report_key`.
    init(
        body: Data,
        entries: [Range<Int>],
        node: NodeName,
        knownVolumes: Set<String>,
        keyOf: @escaping @Sendable (String) -> String
    ) {
        parts = (entries.count + ReportBatch.vmsPerStep - 1) / ReportBatch.vmsPerStep
        state = Mutex(State(slots: Array(repeating: nil, count: parts), failures: Array(repeating: nil, count: parts)))
        published = (0..<parts).map { _ in DispatchSemaphore(value: 0) }
        let niceness = ThreadNiceness.current
        for first in 0..<min(Self.threads, parts) {
            let thread = Thread { [self] in
                ThreadNiceness.set(niceness)
                for part in stride(from: first, to: parts, by: Self.threads) {
                    guard
                        decode(part, body: body, entries: entries, node: node, knownVolumes: knownVolumes, keyOf: keyOf)
                    else { return }
                }
            }
            thread.name = "chainkeeper-entries"
            thread.start()
        }
    }

    func next() -> ReportPart.Next {
        let (index, ended) = state.withLock { state -> (Int, ReportPart.Next?) in
            if state.taken > 0, let last = state.slots[state.taken - 1], case .stopped = last { return (0, last) }
            return (state.taken, state.taken == parts ? .end : nil)
        }
        if let ended { return ended }
        // Never for ever: a part not decoded in this long (a thread that could not start, a bug) fails the report
        // instead of holding the report lane's thread.
        if published[index].wait(timeout: .now() + .seconds(Self.partDeadlineSeconds)) == .timedOut {
            cancel()
            return .stopped("part \(index) of the entries was not decoded within \(Self.partDeadlineSeconds) s")
        }
        return state.withLock { state in
            state.taken += 1
            return state.slots[index] ?? .stopped("part \(index) was not decoded")
        }
    }

    /// Why the entries stopped, once `next()` said they did.
    var failure: Failure? {
        state.withLock { state in state.taken > 0 ? state.failures[state.taken - 1] : nil }
    }

    var spent: Spent { state.withLock { $0.spent } }

    /// Stops decoding at the next part (the store failed: nobody will ask for the rest).
    func cancel() { state.withLock { $0.cancelled = true } }

    private func publish(_ next: ReportPart.Next, at part: Int, failure: Failure? = nil) {
        state.withLock { state in
            state.slots[part] = next
            state.failures[part] = failure
            if failure != nil { state.stoppedAt = min(state.stoppedAt, part) }
        }
        published[part].signal()
    }

    /// Decodes, checks and models part `part`, and puts it in its slot; `false` when no further part is to be decoded.
    private func decode(
        _ part: Int,
        body: Data,
        entries: [Range<Int>],
        node: NodeName,
        knownVolumes: Set<String>,
        keyOf: @Sendable (String) -> String
    ) -> Bool {
        let start = part * ReportBatch.vmsPerStep
        guard !state.withLock({ $0.cancelled || $0.stoppedAt < part }) else {
            publish(.stopped("the report was abandoned"), at: part)
            return false
        }
        let range = start..<min(start + ReportBatch.vmsPerStep, entries.count)
        var mark = ContinuousClock.now
        func spend(_ phase: WritableKeyPath<Spent, Duration>) {
            let now = ContinuousClock.now
            let spent = now - mark
            state.withLock { $0.spent[keyPath: phase] += spent }
            mark = now
        }
        var text = Data("[".utf8)
        text.append(
            body[
                (body.startIndex + entries[range.lowerBound].lowerBound)..<(body.startIndex
                    + entries[range.upperBound - 1].upperBound)
            ]
        )
        text.append(Data("]".utf8))
        let decoded: [ReportedVM]
        do {
            decoded = try JSONDecoder().decode([ReportedVM].self, from: text)
        } catch {
            // The error a client sees is the whole document's, as when the report is decoded whole.
            let whole = Result { try JSONDecoder().decode(AgentReport.self, from: body) }
            let reason: any Error = if case .failure(let wholeError) = whole { wholeError } else { error }
            spend(\.decode)
            publish(.stopped("vms[\(range.lowerBound)...] is not valid JSON"), at: part, failure: .json(reason))
            return false
        }
        spend(\.decode)
        for (offset, entry) in decoded.enumerated() {
            do throws(ReportFieldError) {
                try entry.validate(at: "vms[\(range.lowerBound + offset)]")
            } catch {
                spend(\.validate)
                publish(.stopped("\(error.field) is out of its bounds"), at: part, failure: .field(error))
                return false
            }
        }
        spend(\.validate)
        let modelled = ReportIngest.part(of: decoded[...], node: node, knownVolumes: knownVolumes, keyOf: keyOf)
        spend(\.model)
        publish(.part(modelled), at: part)
        return true
    }
}
