import ClusterAPI
import Foundation
import Logging
import NIOCore
import Synchronization

extension AgentService {
    /// Uploads the hypervisor metadata a coordinator asked for (`ReportAnswer.missingMetadata`), in batches of at
    /// most 8 MiB, to every coordinator (each keeps its own copy, as with reports).
    func uploadMetadata(for vmIds: [String]) async {
        let known = latestMetadata.withLock { $0 }
        let entries = vmIds.compactMap { id in known[id].map { MetadataUpload.Entry(vmId: id, metadata: $0) } }
        guard !entries.isEmpty else { return }
        var batch: [MetadataUpload.Entry] = []
        var size = 0
        var sent = 0
        func flush() async {
            guard !batch.isEmpty, let body = try? JSONEncoder().encode(MetadataUpload(entries: batch)) else { return }
            do {
                let answer = try await client.postEverywhere("metadata", body: body, timeout: .seconds(60))
                if let decoded = try? JSONDecoder().decode(MetadataUploadAnswer.self, from: answer) {
                    sent += decoded.held
                    for refusal in decoded.refused.prefix(3) {
                        logger.warning("the coordinator kept no metadata for \(refusal.vmId): \(refusal.reason)")
                    }
                }
            } catch {
                logger.warning("metadata upload failed (the next report asks again): \(error.message)")
            }
            batch = []
            size = 0
        }
        for entry in entries {
            let entrySize =
                entry.metadata.domainXML.utf8.count
                + entry.metadata.snapshots.reduce(0) {
                    $0 + $1.xml.utf8.count
                }
            if size + entrySize > 8 << 20 { await flush() }
            batch.append(entry)
            size += entrySize
        }
        await flush()
        logger.info("uploaded hypervisor metadata", metadata: ["vms": .stringConvertible(sent)])
    }
}
