import ChainModel
import ClusterAPI
import ClusterStore
import Crypto
import Foundation

/// Turns an agent's report into store writes.
///
/// Inventories never move a VM: a VM the cluster does not know is registered to the reporting node; a known VM's
/// inventory is taken only from its owner; any other node listing it is recorded as a listing
/// (`registered-on-non-owner`). A VM entry that cannot be understood becomes an inventory error for that VM; the rest
/// still arrives.
struct ReportIngest {
    let store: ClusterStore
    let probeWindow: Duration
    /// Whether a reported epoch above the stored one may make the reporter the owner (`OwnershipRebuild`).
    var rebuildingOwnership = false

    func ingest(_ report: AgentReport, at now: Timestamp) throws -> ReportOutcome {
        var phases = ReportPhases()
        return try ingest(report, at: now, phases: &phases)
    }

    /// `ingest(_:at:)`, recording the model and store phases in `phases`; with `rest`, the entries of `report.vms` are
    /// followed by those `rest` decodes meanwhile (`ReportPipeline`).
    func ingest(
        _ report: AgentReport,
        rest: ReportPipeline? = nil,
        at now: Timestamp,
        phases: inout ReportPhases
    ) throws -> ReportOutcome {
        let node = NodeName(report.node)
        guard let driver = report.driver.value else {
            throw APIError.badRequest("driver must be hyperv-json or libvirt, got '\(report.driver)'")
        }
        let knownVolumes = Set(report.volumes.map(\.id))
        let keyOf = Self.reportKey(node: node, volumes: knownVolumes)
        // The entries on two threads, as they were decoded.
        let entries = report.vms
        let parts = ReportDecoding.halves(of: entries.count) { range in
            Self.part(of: entries[range], node: node, knownVolumes: knownVolumes, keyOf: keyOf)
        }
        var batch = ReportBatch(
            node: node,
            driver: driver,
            memoryMiB: report.memoryMiB,
            volumes: report.volumes.map { volume in
                var entry = VolumeReport(
                    volume: Volume(id: VolumeID(volume.id), name: volume.name),
                    mountPath: volume.mountPath,
                    filesystemType: volume.filesystemType,
                    probeWritten: volume.probeWritten,
                    probeRead: volume.probeRead,
                    freeBytes: volume.freeBytes,
                    readOnly: volume.readOnly ?? false
                )
                entry.totalBytes = volume.totalBytes
                return entry
            },
            vms: parts.flatMap(\.vms),
            listed: parts.flatMap(\.listed),
            inventoryErrors: report.inventoryErrors.map {
                InventoryError(
                    node: node,
                    vm: $0.vm.map { ReportedText.stored($0, maxBytes: 255) },
                    message: ReportedText.stored($0.message)
                )
            } + parts.flatMap(\.inventoryErrors),
            discoveredDisks: report.discoveredDisks.map {
                DiscoveredDisk(volume: VolumeID($0.volumeId), relativePath: $0.relativePath, path: $0.path, node: node)
            },
            probeWindow: probeWindow,
            rebuildingOwnership: rebuildingOwnership,
            hypervisorURI: report.hypervisorURI
        )
        for part in parts { batch.reportKeys.merge(part.reportKeys) { _, later in later } }
        batch.unchangedEntries = (report.unchangedVMs ?? []).map { (VMID($0.id), keyOf($0.digest)) }
        phases.end(.model)
        let outcome = try store.ingest(batch, at: now, rest: rest)
        phases.end(.store)
        return outcome
    }

    /// These entries of `node`'s report as the store takes them: each VM modelled, or an inventory error for an entry
    /// that cannot be understood.
    static func part(
        of entries: ArraySlice<ReportedVM>,
        node: NodeName,
        knownVolumes: Set<String>,
        keyOf: (String) -> String
    ) -> ReportPart {
        var part = ReportPart(vms: [], listed: [], inventoryErrors: [], reportKeys: [:])
        part.vms.reserveCapacity(entries.count)
        part.listed.reserveCapacity(entries.count)
        for entry in entries {
            part.listed.append(VMID(entry.id))
            if let digest = entry.digest { part.reportKeys[VMID(entry.id)] = keyOf(digest) }
            do {
                part.vms.append(try Self.model(entry, node: node, knownVolumes: knownVolumes))
            } catch let error as InventoryEntryError {
                part.inventoryErrors.append(InventoryError(node: node, vm: entry.name, message: error.message))
            } catch {
                part.inventoryErrors.append(InventoryError(node: node, vm: entry.name, message: "\(error)"))
            }
        }
        return part
    }

    /// `vm.report_key` of an entry digest from `node`: the entry alone does not make the stored inventory, the node
    /// (paths are its own) and the volumes it reported (which volume a file counts on) do too.
    static func reportKey(node: NodeName, volumes: Set<String>) -> @Sendable (String) -> String {
        var context = SHA256()
        context.update(data: Data(node.rawValue.utf8))
        for volume in volumes.sorted() { context.update(data: Data(("\n" + volume).utf8)) }
        let prefix = context.finalize().map { String(format: "%02x", $0) }.joined()
        return { digest in prefix + ":" + digest }
    }

    struct InventoryEntryError: Error {
        var message: String
    }

    /// The model of one reported VM, or why it cannot be read.
    static func model(_ entry: ReportedVM, node: NodeName, knownVolumes: Set<String>) throws -> VM {
        guard !entry.id.isEmpty else { throw InventoryEntryError(message: "the VM has no id") }
        guard let state = entry.state.value else {
            throw InventoryEntryError(message: "state '\(entry.state)' is not Running, Off, Saved or Paused")
        }
        guard entry.memoryMiB >= 0 else { throw InventoryEntryError(message: "memoryMiB is negative") }
        if let epoch = entry.epoch, epoch < 1 { throw InventoryEntryError(message: "epoch \(epoch) is below 1") }
        let files = try entry.files.map { file in try Self.model(file, node: node, knownVolumes: knownVolumes) }
        let chains = try entry.chains.map { chain -> DiskChain in
            let elements = try chain.files.map { index -> FileLocation in
                guard files.indices.contains(index) else {
                    throw InventoryEntryError(message: "a chain names file #\(index), which is not in the file list")
                }
                return files[index].location
            }
            return DiskChain(checkpoint: chain.checkpointId.map(CheckpointID.init(rawValue:)), elements: elements)
        }
        var vm = VM(
            id: VMID(entry.id),
            name: entry.name,
            ownership: Ownership(owner: node, epoch: entry.epoch.map { Epoch($0) } ?? .initial),
            state: state,
            highlyAvailable: entry.highlyAvailable,
            memoryMiB: entry.memoryMiB,
            checkpoints: entry.checkpoints.map {
                Checkpoint(
                    id: CheckpointID($0.id),
                    name: $0.name,
                    parent: $0.parentId.map(CheckpointID.init(rawValue:)),
                    created: $0.created.map { Timestamp(millisecondsSinceEpoch: $0) }
                )
            },
            files: files,
            chains: chains,
            metadata: entry.metadataDigest.map { HypervisorMetadataState(reportedDigest: $0) }
        )
        vm.nextFiles = try (entry.nextFiles ?? []).map { next in
            guard let role = NextFileLocation.Role(rawValue: next.role) else {
                throw InventoryEntryError(message: "next file '\(next.path)' has unknown role '\(next.role)'")
            }
            // Placed like a file: the same checks on its volume and path.
            let placed = try Self.model(
                ReportedFile(
                    path: next.path,
                    volumeId: next.volumeId,
                    relativePath: next.relativePath,
                    kind: Reported(.disk)
                ),
                node: node,
                knownVolumes: knownVolumes
            )
            return NextFileLocation(role: role, path: placed.path, location: placed.location)
        }
        vm.mergePending = entry.mergePending == true
        return vm
    }

    /// The model of one reported file: its kind, format and problem known, its path within its volume.
    static func model(_ file: ReportedFile, node: NodeName, knownVolumes: Set<String>) throws -> VMFile {
        guard let kind = file.kind.value else {
            throw InventoryEntryError(message: "file '\(file.path)' has unknown kind '\(file.kind)'")
        }
        let format = try file.format.map { raw -> DiskFormat in
            guard let format = raw.value else {
                throw InventoryEntryError(message: "file '\(file.path)' has unknown format '\(raw)'")
            }
            return format
        }
        let problem = try file.problem.map { raw -> FileProblem in
            guard let problem = raw.value else {
                throw InventoryEntryError(message: "file '\(file.path)' has unknown problem '\(raw)'")
            }
            return problem
        }
        if let problem = ReportedPath.problem(in: file.path, relative: false) {
            throw InventoryEntryError(message: "file '\(PrintableText.escape(file.path))': \(problem)")
        }
        let location: FileLocation
        switch (file.volumeId, file.relativePath) {
        case (let volume?, let relative?):
            if let problem = ReportedPath.problem(in: relative, relative: true) {
                throw InventoryEntryError(
                    message:
                        "file '\(file.path)' has the volume path '\(PrintableText.escape(relative))': \(problem)"
                )
            }
            guard knownVolumes.contains(volume) else {
                throw InventoryEntryError(
                    message: "file '\(file.path)' names volume \(volume), which this report does not list"
                )
            }
            location = .volume(VolumeID(volume), relativePath: relative)
        case (nil, nil):
            location = .nodeLocal(node, absolutePath: file.path)
        default:
            throw InventoryEntryError(
                message: "file '\(file.path)' gives a volume without a relative path, or the reverse"
            )
        }
        guard file.size >= 0 else { throw InventoryEntryError(message: "file '\(file.path)' has a negative size") }
        return VMFile(
            location: location,
            path: file.path,
            kind: kind,
            format: format,
            size: file.size,
            identifier: file.identifier,
            checkpoint: file.checkpointId.map(CheckpointID.init(rawValue:)),
            problem: problem,
            problemDetail: file.problemDetail.map { ReportedText.stored($0) }
        )
    }
}
