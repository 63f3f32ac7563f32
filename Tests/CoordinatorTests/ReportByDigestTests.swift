import ClusterAPI
import Coordinator
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import Testing

/// Issue 27: a report lists the entries a coordinator already holds by digest alone (`unchangedVMs`), and the
/// coordinator counts one unchanged only when its stored inventory came from that very entry of that node; otherwise it
/// asks for it again (`resendVMs`), and nothing it stored is lost or changed.
@Suite struct ReportByDigestTests {
    static func digested(_ vms: [ReportedVM]) -> [ReportedVM] { vms.map { $0.withDigest { SHA256.hash(data: $0) } } }

    /// `report` with every entry by its digest instead of whole.
    static func byDigest(_ report: AgentReport, _ vms: [ReportedVM]) -> AgentReport {
        var delta = report
        delta.vms = []
        delta.unchangedVMs = vms.map { UnchangedVM(id: $0.id, digest: $0.digest ?? "") }
        return delta
    }

    static func post(_ report: AgentReport, client: some TestClientProtocol) async throws -> ReportAnswer {
        let response = try await LiveCoordinator.post(
            report,
            as: LiveCoordinator.agentToken(report.node),
            client: client
        )
        #expect(response.status == .ok, "\(String(buffer: response.body))")
        return try JSONDecoder().decode(ReportAnswer.self, from: Data(buffer: response.body))
    }

    /// What the coordinator holds of the VMs and their files, to compare before and after.
    static func held(_ client: some TestClientProtocol) async throws -> [String] {
        var held: [String] = []
        for name in ["web01", "db01"] {
            let detail = try JSONDecoder().decode(
                VMDetailJSON.self,
                from: Data(buffer: try await LiveCoordinator.get("/v1/vms/\(name)", client: client).body)
            )
            held.append("\(detail.owner) \(detail.epoch) " + detail.files.map(\.path).joined(separator: ","))
        }
        let audit = try await LiveCoordinator.get("/v1/audit", client: client)
        return held + [String(buffer: audit.body)]
    }

    @Test func anEntryIsUnchangedByDigestOnlyWhenItsInventoryCameFromThatEntryOfThatNode() async throws {
        let live = try LiveCoordinator { $0.leaseTTL = .seconds(1) }
        try await live.test { client in
            let vms = Self.digested([
                LiveCoordinator.vm("web01", node: "node1"), LiveCoordinator.vm("db01", node: "node1", local: 4),
            ])
            // Past the ownership rebuild of a new database's first lease (the next test).
            try await Task.sleep(for: .milliseconds(1100))
            let whole = LiveCoordinator.report("node1", vms: vms, read: ["node1"])
            #expect(try await Self.post(whole, client: client).registered == 2)
            let before = try await Self.held(client)

            let delta = try await Self.post(Self.byDigest(whole, vms), client: client)
            #expect(delta.unchanged == 2 && delta.registered == 0 && delta.updated == 0)
            #expect(delta.resendVMs == nil)
            #expect(try await Self.held(client) == before, "nothing stored changed")
            // A VM listed by digest twice counts once.
            var twice = Self.byDigest(whole, vms)
            twice.unchangedVMs?.append(UnchangedVM(id: vms[0].id, digest: vms[0].digest ?? ""))
            #expect(try await Self.post(twice, client: client).unchanged == 2)

            // A digest this coordinator did not store, and a VM it does not know: both asked for again.
            var stale = Self.byDigest(whole, vms)
            stale.unchangedVMs?[1].digest = "sha256:" + String(repeating: "0", count: 64)
            stale.unchangedVMs?.append(UnchangedVM(id: "new01-id", digest: vms[0].digest ?? ""))
            let asked = try await Self.post(stale, client: client)
            #expect(asked.unchanged == 1 && asked.resendVMs == ["db01-id", "new01-id"])

            // The same entries with another set of volumes: the stored inventory was judged against the old ones.
            var moved = Self.byDigest(whole, vms)
            moved.volumes.removeLast()
            #expect(Set(try await Self.post(moved, client: client).resendVMs ?? []) == ["web01-id", "db01-id"])

            // Another node listing web01 by node1's digest: a listing, never an update, never a move.
            var other = Self.byDigest(LiveCoordinator.report("node2", vms: [], read: []), [vms[0]])
            other.node = "node2"
            let listing = try await Self.post(other, client: client)
            #expect(listing.listedOnly == 1 && listing.unchanged == 0 && listing.resendVMs == nil)

            // An entry sent whole without a digest replaces what the key named: by digest, it is asked for again.
            var plain = vms[0]
            plain.digest = nil
            plain.memoryMiB = 2048
            #expect(
                try await Self.post(LiveCoordinator.report("node1", vms: [plain], read: []), client: client).updated
                    == 1
            )
            let after = try await Self.post(Self.byDigest(whole, [vms[0]]), client: client)
            #expect(after.unchanged == 0 && after.resendVMs == ["web01-id"])
            // Sent whole again with its digest, it is held again.
            _ = try await Self.post(LiveCoordinator.report("node1", vms: [vms[0]], read: []), client: client)
            #expect(try await Self.post(Self.byDigest(whole, [vms[0]]), client: client).unchanged == 1)
        }
    }

    /// While ownership is rebuilt, every entry listed by digest is asked for again.
    ///
    /// During the first lease on a database that knew no VM, ownership is rebuilt from whole entries (their epochs).
    /// A 300 s lease keeps the window open however slowly a loaded
    /// machine runs the test (a 10 s one closed before the second report once in CI).
    @Test func whileOwnershipIsRebuiltEveryEntryIsAskedForWhole() async throws {
        let live = try LiveCoordinator { $0.leaseTTL = .seconds(300) }
        try await live.test { client in
            let vms = Self.digested([LiveCoordinator.vm("web01", node: "node1")])
            let whole = LiveCoordinator.report("node1", vms: vms, read: ["node1"])
            #expect(try await Self.post(whole, client: client).registered == 1)
            let early = try await Self.post(Self.byDigest(whole, vms), client: client)
            #expect(early.unchanged == 0 && early.resendVMs == ["web01-id"])
        }
    }

    @Test func listingsByDigestAreBoundedAndChecked() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            var report = LiveCoordinator.report("node1", vms: [], read: [])
            report.unchangedVMs = [UnchangedVM(id: "web01-id", digest: "md5:abc")]
            let bad = try await LiveCoordinator.post(report, as: LiveCoordinator.agentToken("node1"), client: client)
            #expect(bad.status == .badRequest)
            #expect(String(buffer: bad.body).contains("unchangedVMs[0].digest"))
            report.unchangedVMs = [UnchangedVM(id: "web\u{7}01", digest: "sha256:" + String(repeating: "a", count: 64))]
            let hostile = try await LiveCoordinator.post(
                report,
                as: LiveCoordinator.agentToken("node1"),
                client: client
            )
            #expect(hostile.status == .badRequest)
            #expect(String(buffer: hostile.body).contains("unchangedVMs[0].id"))
        }
    }
}
