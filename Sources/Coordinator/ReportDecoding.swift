import ClusterAPI
import ClusterStore
import Foundation

/// An agent's report decoded on two threads when it is large: the second half of its `vms` entries on a thread of its
/// own (`WorkAhead`, at the report lane's niceness), the header and the first half on the caller's.
///
/// A 1,000-VM report is 10 MiB of JSON, a quarter to half a second of `JSONDecoder` on one core, while the second core
/// of a small coordinator idled. The result is the whole document's: `ReportSplit` finds the parts, `JSONDecoder`
/// checks each, and whenever either is not certain the body is decoded whole, which also gives the error a client sees.
enum ReportDecoding {
    /// Bodies smaller than this are decoded whole: a thread is not worth it.
    static let splitFrom = 256 * 1024

    static func decode(_ data: Data) throws -> AgentReport {
        guard data.count >= splitFrom, let report = try? split(data) else {
            return try JSONDecoder().decode(AgentReport.self, from: data)
        }
        return report
    }

    /// A large report's header (`vms` empty) and where each of its entries lies, for `ReportPipeline`: `nil` when the
    /// body is small, has no more entries than one store step, cannot be taken apart with certainty, or its header
    /// does not decode (then `decode` gives the error a client sees).
    static func header(of data: Data) -> (report: AgentReport, entries: [Range<Int>])? {
        guard data.count >= splitFrom, let parts = data.withUnsafeBytes({ ReportSplit($0) }),
            parts.entries.count > ReportBatch.vmsPerStep
        else { return nil }
        var header = Data(data[data.startIndex..<data.startIndex + parts.vms.lowerBound])
        header.append(Data("[]".utf8))
        header.append(data[(data.startIndex + parts.vms.upperBound)...])
        guard let report = try? JSONDecoder().decode(AgentReport.self, from: header) else { return nil }
        return (report, parts.entries)
    }

    /// The report from its parts, or `nil` when it cannot be taken apart; throws when a part does not decode.
    static func split(_ data: Data) throws -> AgentReport? {
        guard let parts = data.withUnsafeBytes({ ReportSplit($0) }), parts.entries.count >= 2 else { return nil }
        // The halves by size, not by count: entries differ in size.
        let middle = (parts.entries[0].lowerBound + parts.entries[parts.entries.count - 1].upperBound) / 2
        let cut = max(1, min(parts.entries.count - 1, parts.entries.firstIndex { $0.upperBound > middle } ?? 1))
        let first = parts.entries[0..<cut]
        let second = parts.entries[cut...]
        func array(_ entries: ArraySlice<Range<Int>>) -> Data {
            guard let start = entries.first?.lowerBound, let end = entries.last?.upperBound else {
                return Data("[]".utf8)
            }
            var text = Data("[".utf8)
            text.append(data[data.startIndex + start..<data.startIndex + end])
            text.append(Data("]".utf8))
            return text
        }
        let secondText = array(second)
        let ahead = WorkAhead { Result { try JSONDecoder().decode([ReportedVM].self, from: secondText) } }
        var header = Data(data[data.startIndex..<data.startIndex + parts.vms.lowerBound])
        header.append(Data("[]".utf8))
        header.append(data[(data.startIndex + parts.vms.upperBound)...])
        var report = try JSONDecoder().decode(AgentReport.self, from: header)
        let firstEntries = try JSONDecoder().decode([ReportedVM].self, from: array(first))
        report.vms = firstEntries + (try ahead.value.get())
        return report
    }

    /// Runs `work` over the halves of `0..<count` on two threads (the second on a `WorkAhead`) when `count` is at
    /// least `from`, else on the calling thread alone; the results in order.
    static func halves<Value: Sendable>(
        of count: Int,
        from: Int = 64,
        _ work: @escaping @Sendable (Range<Int>) -> Value
    ) -> [Value] {
        guard count >= from else { return [work(0..<count)] }
        let middle = count / 2
        let ahead = WorkAhead { work(middle..<count) }
        let first = work(0..<middle)
        return [first, ahead.value]
    }
}
