import ChainModel
import ClusterAPI
import ClusterStore
import Foundation
import Synchronization

/// The `vms` entries of a large report decoded, checked against their bounds and modelled `ReportBatch.vmsPerStep` at
/// a time on a thread of its own (at the report lane's niceness), while the store applies the entries before them
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
        var ready: [ReportPart.Next] = []
        var taken = 0
        var failure: Failure?
        var spent = Spent()
        var cancelled = false
    }

    private let state = Mutex(State())
    /// Signalled once per part published, and once for the end or the stop.
    private let published = DispatchSemaphore(value: 0)

    /// Starts decoding `entries` (ranges of `body`, as `ReportSplit` found them) of `node`'s report, whose volumes are
    /// `knownVolumes`; `keyOf` makes an entry digest's `vm.report_key`.
    init(
        body: Data,
        entries: [Range<Int>],
        node: NodeName,
        knownVolumes: Set<String>,
        keyOf: @escaping @Sendable (String) -> String
    ) {
        let niceness = ThreadNiceness.current
        let thread = Thread { [self] in
            ThreadNiceness.set(niceness)
            run(body: body, entries: entries, node: node, knownVolumes: knownVolumes, keyOf: keyOf)
        }
        thread.name = "chainkeeper-entries"
        thread.start()
    }

    func next() -> ReportPart.Next {
        if let ended = state.withLock({ state -> ReportPart.Next? in
            guard state.taken > 0, case let last = state.ready[state.taken - 1] else { return nil }
            if case .part = last { return nil }
            return last
        }) {
            return ended
        }
        published.wait()
        return state.withLock { state in
            defer { state.taken += 1 }
            return state.ready[state.taken]
        }
    }

    /// Why the entries stopped, once `next()` said they did.
    var failure: Failure? { state.withLock { $0.failure } }

    var spent: Spent { state.withLock { $0.spent } }

    /// Stops decoding at the next part (the store failed: nobody will ask for the rest).
    func cancel() { state.withLock { $0.cancelled = true } }

    private func publish(_ next: ReportPart.Next, failure: Failure? = nil) {
        state.withLock { state in
            state.ready.append(next)
            if let failure { state.failure = failure }
        }
        published.signal()
    }

    private func run(
        body: Data,
        entries: [Range<Int>],
        node: NodeName,
        knownVolumes: Set<String>,
        keyOf: @Sendable (String) -> String
    ) {
        for start in stride(from: 0, to: entries.count, by: ReportBatch.vmsPerStep) {
            guard !state.withLock({ $0.cancelled }) else { return publish(.stopped("the report was abandoned")) }
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
                return publish(.stopped("vms[\(range.lowerBound)...] is not valid JSON"), failure: .json(reason))
            }
            spend(\.decode)
            for (offset, entry) in decoded.enumerated() {
                do throws(ReportFieldError) {
                    try entry.validate(at: "vms[\(range.lowerBound + offset)]")
                } catch {
                    spend(\.validate)
                    return publish(.stopped("\(error.field) is out of its bounds"), failure: .field(error))
                }
            }
            spend(\.validate)
            let part = ReportIngest.part(of: decoded[...], node: node, knownVolumes: knownVolumes, keyOf: keyOf)
            spend(\.model)
            publish(.part(part))
        }
        publish(.end)
    }
}
