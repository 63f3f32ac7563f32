import ChainModel
import ClusterAPI
import ClusterStore
import Coordinator
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import Testing

/// Issue 23: the coordinator keeps each libvirt VM's domain and snapshot XML, content-addressed, asks for it only when
/// it lacks the reported digest, and keeps it only from the VM's owner under the digest of the body itself.
@Suite struct HypervisorMetadataTests {
    static func metadata(leaf: String, snapshots: Int) -> HypervisorMetadata {
        HypervisorMetadata(
            driver: "libvirt",
            domainXML: "<domain><name>web01</name></domain>",
            snapshots: (0..<snapshots).map {
                HypervisorMetadata.Snapshot(
                    name: "s\($0)",
                    parent: $0 == 0 ? nil : "s\($0 - 1)",
                    current: $0 == snapshots - 1,
                    xml: "<domainsnapshot><name>s\($0)</name></domainsnapshot>"
                )
            },
            leaves: [leaf],
            secrets: []
        )
    }

    static func digest(_ metadata: HypervisorMetadata) -> String {
        metadata.digest { SHA256.hash(data: $0) } ?? ""
    }

    static func upload(
        _ entries: [MetadataUpload.Entry],
        as node: String,
        client: some TestClientProtocol
    ) async throws -> MetadataUploadAnswer {
        let response = try await client.execute(
            uri: "/v1/agents/\(node)/metadata",
            method: .post,
            headers: [.authorization: "Bearer \(LiveCoordinator.agentToken(node))", .contentType: "application/json"],
            body: ByteBuffer(bytes: try JSONEncoder().encode(MetadataUpload(entries: entries)))
        )
        #expect(response.status == .ok)
        return try JSONDecoder().decode(MetadataUploadAnswer.self, from: Data(buffer: response.body))
    }

    /// `check web01 --to node2`'s reason codes.
    static func checkCodes(_ client: some TestClientProtocol) async throws -> [String] {
        let response = try await LiveCoordinator.get("/v1/vms/web01/check?to=node2", client: client)
        return try JSONDecoder().decode(CheckResponse.self, from: Data(buffer: response.body)).reasons.map(\.code)
    }

    @Test func metadataIsAskedForByDigestKeptOnlyFromTheOwnerAndFreshnessGatesTheMove() async throws {
        let live = try LiveCoordinator()
        let coordinator = live.coordinator
        try await live.test { client in
            // web01's current leaf is disk_b.avhdx (its chain's first file).
            let leaf = "/mnt/csv1/web01/disk_b.avhdx"
            let first = Self.metadata(leaf: leaf, snapshots: 2)
            var web = LiveCoordinator.vm("web01", node: "node1")
            web.metadataDigest = Self.digest(first)
            let reported = try await LiveCoordinator.post(
                LiveCoordinator.report("node1", vms: [web], read: ["node1", "node2"]),
                as: LiveCoordinator.agentToken("node1"),
                client: client
            )
            let answer = try JSONDecoder().decode(ReportAnswer.self, from: Data(buffer: reported.body))
            #expect(answer.missingMetadata == ["web01-id"], "the coordinator asks for the body it lacks")
            _ = try await LiveCoordinator.post(
                LiveCoordinator.report("node2", vms: [], read: ["node1", "node2"]),
                as: LiveCoordinator.agentToken("node2"),
                client: client
            )
            // Until the body arrives, a move is refused with metadata-stale.
            let vm = try #require(try coordinator.store.vms(named: "web01").first)
            #expect(vm.metadata?.heldDigest == nil)
            #expect(try await Self.checkCodes(client) == ["metadata-stale"])

            // Another node cannot plant metadata for a VM it does not own; a body whose digest is not the reported
            // one is refused; the owner's exact body is kept.
            let foreign = try await Self.upload([.init(vmId: "web01-id", metadata: first)], as: "node2", client: client)
            #expect(foreign.held == 0 && foreign.refused.first?.reason.contains("node1 owns this VM") == true)
            let other = Self.metadata(leaf: leaf, snapshots: 3)
            let wrong = try await Self.upload([.init(vmId: "web01-id", metadata: other)], as: "node1", client: client)
            #expect(
                wrong.held == 0 && wrong.refused.first?.reason.contains("is not the one node1 last reported") == true
            )
            let kept = try await Self.upload([.init(vmId: "web01-id", metadata: first)], as: "node1", client: client)
            #expect(kept.held == 1 && kept.refused.isEmpty)

            let held = try #require(try coordinator.store.vms(named: "web01").first?.metadata)
            #expect(held.isCurrent && held.heldLeaves == [leaf])
            let shown = try await LiveCoordinator.get("/v1/vms/web01", client: client)
            let detail = try JSONDecoder().decode(VMDetailJSON.self, from: Data(buffer: shown.body))
            #expect(detail.hypervisorMetadata?.held == true)
            #expect(detail.hypervisorMetadata?.snapshots == 2)
            #expect(detail.hypervisorMetadata?.heldDigest == Self.digest(first))
            #expect(try await Self.checkCodes(client) == [])

            // A later report with a new digest (a snapshot was taken): asked for again; held but not current.
            web.metadataDigest = Self.digest(other)
            let again = try await LiveCoordinator.post(
                LiveCoordinator.report("node1", vms: [web], read: ["node1", "node2"]),
                as: LiveCoordinator.agentToken("node1"),
                client: client
            )
            #expect(
                try JSONDecoder().decode(ReportAnswer.self, from: Data(buffer: again.body)).missingMetadata == [
                    "web01-id"
                ]
            )
            let stale = try #require(try coordinator.store.vms(named: "web01").first?.metadata)
            #expect(!stale.isCurrent && stale.heldDigest == Self.digest(first))
            #expect(try await Self.checkCodes(client) == ["metadata-stale"], "a migration needs the current copy")
        }
    }
}
