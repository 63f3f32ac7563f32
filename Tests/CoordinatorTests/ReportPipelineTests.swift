import ChainModel
import ClusterAPI
import ClusterStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import Testing

@testable import Coordinator

/// A large report's entries are decoded, checked and modelled 200 at a time while the store applies the ones before
/// (`ReportPipeline`): the result is the report applied whole, and an entry that is malformed or out of its bounds
/// stops the report where it is, with the answer the whole report's check gives.
@Suite struct ReportPipelineTests {
    static func live() throws -> LiveCoordinator { try LiveCoordinator(maxBodyBytes: 8 << 20) }

    /// 450 VMs from node1: large enough to be read in parts (three of them).
    static func report() -> AgentReport {
        var vms = (0..<450).map { LiveCoordinator.vm("vm\($0)", node: "node1", local: $0 % 7 == 0 ? 4 : nil) }
        vms[300].state = "Exploded"  // an entry the coordinator cannot understand: that VM's inventory error
        var report = LiveCoordinator.report("node1", vms: vms, read: ["node1"])
        report.inventoryErrors = [ReportedInventoryError(vm: "agent-side", message: "Get-VM failed")]
        // Listed by digest as well as sent whole: counts once, as sent whole.
        report.unchangedVMs = [UnchangedVM(id: "vm420-id", digest: "sha256:" + String(repeating: "0", count: 64))]
        return report
    }

    static func body(_ report: AgentReport) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(report)
    }

    static func post(_ body: Data, client: some TestClientProtocol) async throws -> TestResponse {
        try await client.execute(
            uri: "/v1/agents/node1/report",
            method: .post,
            headers: [
                .authorization: "Bearer \(LiveCoordinator.agentToken("node1"))", .contentType: "application/json",
            ],
            body: ByteBuffer(bytes: body)
        )
    }

    @Test func aLargeReportReadWhileItIsStoredLandsAsTheReportAppliedWhole() async throws {
        let report = Self.report()
        let body = try Self.body(report)
        #expect(ReportDecoding.header(of: body)?.entries.count == 450, "read in parts: \(body.count) bytes")

        let pipelined = try Self.live()
        try await pipelined.test { client in
            let response = try await Self.post(body, client: client)
            #expect(response.status == .ok, "\(String(buffer: response.body))")
            let answer = try JSONDecoder().decode(ReportAnswer.self, from: Data(buffer: response.body))
            #expect(answer.registered == 449 && answer.unchanged == 0 && answer.errors == 2)
        }
        let whole = try Self.live()
        let outcome = try ReportIngest(store: whole.coordinator.store, probeWindow: .seconds(600))
            .ingest(report, at: Timestamp(secondsSinceEpoch: 1_800_000_000))
        #expect(outcome.registered == 449 && outcome.errors == 2)

        let got = try pipelined.coordinator.store.snapshot()
        let expected = try whole.coordinator.store.snapshot()
        #expect(got.vms.count == 449)
        #expect(got.vms == expected.vms)
        #expect(got.listings == expected.listings)
        #expect(got.listings.count == 449, "listings of known VMs only")
        #expect(got.inventoryErrors.map(\.message) == expected.inventoryErrors.map(\.message))
        #expect(Set(got.inventoryErrors.compactMap(\.vm)) == ["agent-side", "vm300"])
        #expect(try pipelined.coordinator.store.node(named: NodeName("node1"))?.lastInventoryAt != nil)
    }

    /// Parts are decoded on two threads, every other one each: a bad entry in the second part (the second thread's) or
    /// in the third (the first thread's, which may have decoded it before the second thread found the second).
    @Test(arguments: [350, 420])
    func anEntryOutOfItsBoundsStopsTheReportAfterTheStepsBeforeIt(bad: Int) async throws {
        var report = Self.report()
        report.vms[bad].memoryMiB = -1
        let before = bad / 200 * 200
        let live = try Self.live()
        let body = try Self.body(report)
        try await live.test { client in
            let response = try await Self.post(body, client: client)
            #expect(response.status == .badRequest)
            let error = try LiveCoordinator.json(response) as? [String: [String: String]]
            #expect(error?["error"]?["field"] == "vms[\(bad)].memoryMiB", "\(String(buffer: response.body))")
        }
        // The parts before the bad entry's were stored while it was read; none after.
        let stored = try live.coordinator.store.snapshot().vms.map(\.name)
        #expect(Set(stored) == Set((0..<before).filter { $0 != 300 }.map { "vm\($0)" }))
        #expect(try live.coordinator.store.node(named: NodeName("node1"))?.lastInventoryAt == nil)
        #expect(try live.coordinator.store.snapshot().listings.isEmpty, "the report's end is not written")

        // The agent's next, sound report completes it.
        try await live.test { client in
            let response = try await Self.post(try Self.body(Self.report()), client: client)
            #expect(response.status == .ok, "\(String(buffer: response.body))")
            let answer = try JSONDecoder().decode(ReportAnswer.self, from: Data(buffer: response.body))
            #expect(answer.registered == 449 - stored.count && answer.unchanged == stored.count)
        }
        #expect(try live.coordinator.store.snapshot().vms.count == 449)
        #expect(try live.coordinator.store.node(named: NodeName("node1"))?.lastInventoryAt != nil)
    }

    @Test func anEntryThatDoesNotDecodeStopsTheReportWithTheWholeDocumentsError() async throws {
        let text = try #require(String(data: try Self.body(Self.report()), encoding: .utf8))
        // vm250's memory as a string: the entry does not decode (keys sorted: memoryMiB just before name).
        let broken = text.replacingOccurrences(
            of: #""memoryMiB":1024,"name":"vm250""#,
            with: #""memoryMiB":"lots","name":"vm250""#
        )
        #expect(broken != text)
        let live = try Self.live()
        try await live.test { client in
            let response = try await Self.post(Data(broken.utf8), client: client)
            #expect(response.status == .badRequest)
            let message = String(buffer: response.body)
            #expect(message.contains("not valid JSON for this API version: wrong type at 'vms."), "\(message)")
            #expect(message.contains("250.memoryMiB"), "\(message)")
        }
        let stored = try live.coordinator.store.snapshot().vms.map(\.name)
        #expect(Set(stored) == Set((0..<200).map { "vm\($0)" }))
        #expect(try live.coordinator.store.node(named: NodeName("node1"))?.lastInventoryAt == nil)
    }
}
