import ClusterAPI
import Foundation

/// Which VM entries the coordinator holds, by the digest of the entry last delivered (issue 27).
///
/// A 1,000-VM node's report is 10 MiB of JSON, nearly all of it entries that did not change since the last one:
/// the report sends those as `{id, digest}` (`AgentReport.unchangedVMs`) and the coordinator, which stored the digest
/// with the entry, counts them unchanged without decoding 10 KB each. What is "delivered" is only ever what a
/// coordinator accepted: the digests of the report in the outbox become delivered when that very body was accepted,
/// and an entry any coordinator asks for again (`ReportAnswer.resendVMs`: a standby that missed a report, a restored
/// database, an ownership rebuild) is forgotten, so the next report carries it whole. In memory only: a restarted
/// agent sends its first report whole.
struct ReportDigests {
    /// VM id → digest of the entry a coordinator accepted.
    private(set) var delivered: [String: String] = [:]
    /// The body waiting in the outbox and the digests of every VM it lists.
    private var queued: (body: Data, digests: [String: String])?

    /// `report` as it is sent: entries delivered unchanged by digest, the rest whole.
    func wire(_ report: AgentReport) -> AgentReport {
        var wire = report
        var unchanged: [UnchangedVM] = []
        wire.vms = report.vms.filter { vm in
            guard let digest = vm.digest, delivered[vm.id] == digest else { return true }
            unchanged.append(UnchangedVM(id: vm.id, digest: digest))
            return false
        }
        wire.unchangedVMs = unchanged.isEmpty ? nil : unchanged
        return wire
    }

    /// `body` (the wire form of `report`) replaced whatever the outbox held.
    mutating func queued(_ body: Data, of report: AgentReport) {
        var digests: [String: String] = [:]
        for vm in report.vms { if let digest = vm.digest { digests[vm.id] = digest } }
        queued = (body, digests)
    }

    /// A coordinator accepted `body`: when it is the report queued last, its entries are what the coordinator has.
    mutating func delivered(_ body: Data) {
        guard let queued, queued.body == body else { return }
        delivered = queued.digests
        self.queued = nil
    }

    /// Entries a coordinator asked for again; also out of the queued report's digests, since another coordinator's
    /// answer may come before the leader's acceptance of that report makes them delivered.
    mutating func forget(_ vms: [String]) {
        for vm in vms {
            delivered[vm] = nil
            queued?.digests[vm] = nil
        }
    }
}
