import ClusterAPI
import Crypto
import Foundation
import Testing

@testable import AgentService

/// Issue 27: the agent sends an entry by digest only once a coordinator accepted that very entry, and whole again
/// as soon as any coordinator asks.
@Suite struct ReportDigestsTests {
    static func report(_ memory: [String: Int]) -> AgentReport {
        AgentReport(
            node: "node1",
            driver: "hyperv-json",
            vms: memory.keys.sorted().map { id in
                ReportedVM(
                    id: id,
                    name: id,
                    state: "Running",
                    highlyAvailable: true,
                    memoryMiB: memory[id] ?? 0,
                    checkpoints: [],
                    files: [],
                    chains: []
                ).withDigest { SHA256.hash(data: $0) }
            }
        )
    }

    @Test func entriesGoByDigestOnlyAfterThatReportWasAccepted() throws {
        var digests = ReportDigests()
        let first = Self.report(["a": 1, "b": 2])
        // Nothing delivered yet: every entry whole.
        let wire = digests.wire(first)
        #expect(wire.vms.map(\.id) == ["a", "b"] && wire.unchangedVMs == nil)
        let body = try JSONEncoder().encode(wire)
        digests.queued(body, of: first)
        #expect(digests.wire(first).unchangedVMs == nil, "queued is not delivered")
        // An older body accepted (one from before a restart): still nothing delivered.
        digests.delivered(Data("older".utf8))
        #expect(digests.wire(first).unchangedVMs == nil)
        digests.delivered(body)
        let second = Self.report(["a": 1, "b": 3, "c": 4])
        let delta = digests.wire(second)
        #expect(delta.vms.map(\.id) == ["b", "c"], "b changed, c is new")
        #expect(delta.unchangedVMs == [UnchangedVM(id: "a", digest: first.vms[0].digest ?? "")])

        // A coordinator asks for a again (its answer may come before the leader's acceptance of the queued report).
        let next = try JSONEncoder().encode(delta)
        digests.queued(next, of: second)
        digests.forget(["a"])
        digests.delivered(next)
        let third = digests.wire(second)
        #expect(third.vms.map(\.id) == ["a"])
        #expect(third.unchangedVMs?.map(\.id) == ["b", "c"])
    }

    @Test func theDigestCoversEveryFieldButItself() {
        let base = Self.report(["a": 1]).vms[0]
        var changed = base
        changed.name = "renamed"
        #expect(changed.withDigest { SHA256.hash(data: $0) }.digest != base.digest)
        #expect(base.withDigest { SHA256.hash(data: $0) }.digest == base.digest, "a digest does not hash itself")
        #expect(base.digest?.hasPrefix("sha256:") == true && base.digest?.count == 71)
    }
}
