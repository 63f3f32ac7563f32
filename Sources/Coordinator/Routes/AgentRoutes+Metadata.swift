import ChainModel
import ClusterAPI
import ClusterStore
import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat

extension AgentRoutes {
    /// `POST /v1/agents/{node}/metadata`: the hypervisor metadata a report's answer asked for (issue 23).
    ///
    /// Each entry is kept only when its digest, recomputed here from the canonical encoding, is the one the owner last
    /// reported for that VM: an agent can neither plant metadata under another VM's digest nor for a VM it does not
    /// own. Entries that do not fit are counted and named in the answer, never an error for the others.
    @Sendable func metadata(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let node = try context.parameters.require("node")
        try context.requireAgent(of: node)
        let body = try await RouteSupport.body(of: request, upTo: coordinator.config.maxBodyBytes, what: "the metadata")
        let upload: MetadataUpload
        do {
            upload = try JSONDecoder().decode(MetadataUpload.self, from: Data(buffer: body))
        } catch {
            throw APIError.badRequest("the metadata is not valid JSON: \(RouteSupport.describe(error))")
        }
        var answer = MetadataUploadAnswer(held: 0, refused: [])
        for entry in upload.entries.prefix(ReportLimits.vms) {
            let refusal: String?
            do {
                refusal = try hold(entry, from: NodeName(node))
            } catch let error as StoreError {
                refusal = error.message
            }
            if let refusal {
                answer.refused.append(
                    MetadataUploadAnswer.Refusal(vmId: String(entry.vmId.prefix(255)), reason: refusal)
                )
            } else {
                answer.held += 1
            }
        }
        if !answer.refused.isEmpty {
            logger.warning(
                "metadata refused for \(answer.refused.count) VM(s): \(answer.refused.first?.reason ?? "")",
                metadata: ["node": .string(node)]
            )
        }
        return try RouteSupport.json(answer)
    }

    /// Why `entry` was not kept, or `nil` when it was.
    private func hold(_ entry: MetadataUpload.Entry, from node: NodeName) throws -> String? {
        let metadata = entry.metadata
        guard metadata.driver == "libvirt" else { return "driver '\(metadata.driver.prefix(64))' is not libvirt" }
        guard metadata.snapshots.count <= ReportLimits.checkpointsPerVM,
            metadata.leaves.count <= ReportLimits.filesPerVM, metadata.secrets.count <= 1_024
        else { return "more snapshots, leaves or secrets than a VM may have" }
        let canonical = try metadata.canonicalEncoding()
        guard canonical.count <= HypervisorMetadata.maxEncodedBytes else {
            return "\(canonical.count) bytes, above the \(HypervisorMetadata.maxEncodedBytes)-byte limit"
        }
        let digest = HypervisorMetadata.digest(of: canonical) { SHA256.hash(data: $0) }
        switch try coordinator.store.holdMetadata(
            vm: VMID(entry.vmId),
            from: node,
            digest: digest,
            body: canonical,
            leaves: metadata.leaves,
            snapshots: metadata.snapshots.count,
            at: coordinator.now()
        ) {
        case nil: return nil
        case .unknownVM: return "the cluster does not know this VM"
        case .notOwner(let owner): return "\(owner) owns this VM, not \(node)"
        case .notReported(let reported):
            return "its digest \(digest) is not the one \(node) last reported (\(reported ?? "none"))"
        }
    }
}
