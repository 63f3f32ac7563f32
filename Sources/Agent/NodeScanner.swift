import ChainModel
import ClusterAPI
import DiskFormats
import Foundation

/// One rescan of a node (SPEC §3-4): its volumes with probe evidence, its inventory (from either driver) with every
/// chain walked through the real headers, and the differencing disks on its volumes.
///
/// Synchronous and blocking: the agent runs it off the cooperative pool.
public struct NodeScanner {
    public var node: String
    public var volumeDirectories: [String]
    public var inventory: any InventorySource
    public var pathMap: PathMap
    public var memoryMiB: Int?
    /// Prefixes of non-file disk sources every node with the same entry reaches (`rbd:pool/`), SPEC §2.
    public var sharedSources: [String]

    public init(
        node: String,
        volumeDirectories: [String],
        inventory: any InventorySource,
        pathMap: PathMap,
        memoryMiB: Int?,
        sharedSources: [String] = []
    ) {
        self.node = node
        self.volumeDirectories = volumeDirectories
        self.inventory = inventory
        self.pathMap = pathMap
        self.memoryMiB = memoryMiB
        self.sharedSources = sharedSources
    }

    /// Convenience for the `hyperv-json` driver.
    public init(node: String, volumeDirectories: [String], inventoryPath: String, pathMap: PathMap, memoryMiB: Int?) {
        self.init(
            node: node,
            volumeDirectories: volumeDirectories,
            inventory: HyperVJSONSource(path: inventoryPath),
            pathMap: pathMap,
            memoryMiB: memoryMiB
        )
    }

    /// The volume markers this node sees now.
    public func volumes() -> [LocalVolume] {
        VolumeDiscovery.discover(in: volumeDirectories, mounts: MountTable.current())
    }

    /// Builds the report; `newNonces` maps the volumes whose probe is due to the nonce to write there.
    ///
    /// Returns the report and the problems worth a log line (a volume that cannot be written, …).
    ///
    /// VMs this node adopted are reported from their definitions until the hypervisor's inventory lists them (then the
    /// inventory wins); VMs it released are left out (SPEC §6).
    public func report(
        volumes: [LocalVolume],
        newNonces: [String: String],
        fileSystem: any ChainFileSystem,
        adopted: [InventoryVM] = [],
        released: Set<String> = [],
        now: Timestamp = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)),
        probeInterval: Duration = .seconds(300)
    ) -> (report: AgentReport, warnings: [String], metadata: [String: HypervisorMetadata]) {
        var warnings: [String] = []
        var metadata: [String: HypervisorMetadata] = [:]
        let reportedVolumes = volumes.map { volume -> ReportedVolume in
            if let nonce = newNonces[volume.marker.id] {
                do {
                    _ = try VolumeProbe.write(node: node, root: volume.root, nonce: nonce)
                } catch {
                    warnings.append("probe on volume \(volume.marker.name) (\(volume.root)): \(error)")
                }
            }
            var space = statvfs()
            let measured = statvfs(volume.root, &space) == 0
            var reported = ReportedVolume(
                id: volume.marker.id,
                name: volume.marker.name,
                mountPath: volume.root,
                filesystemType: volume.filesystemType,
                probeWritten: VolumeProbe.current(node: node, root: volume.root),
                probeRead: VolumeProbe.readAll(root: volume.root),
                freeBytes: measured ? Int64(clamping: UInt64(space.f_bavail) &* UInt64(space.f_frsize)) : nil,
                readOnly: measured ? (space.f_flag & UInt(ST_RDONLY)) != 0 : nil
            )
            reported.totalBytes = measured ? Int64(clamping: UInt64(space.f_blocks) &* UInt64(space.f_frsize)) : nil
            return reported
        }
        var report = AgentReport(
            node: node,
            driver: Reported(inventory.driver),
            memoryMiB: memoryMiB,
            volumes: reportedVolumes
                + SharedSources.volumes(sharedSources, node: node, now: now, probeInterval: probeInterval)
        )
        let builder = FileSetBuilder(
            volumes: volumes,
            pathMap: pathMap,
            fileSystem: fileSystem,
            sharedSources: sharedSources
        )
        // Definitions adopted from the coordinator name paths another node reported: nothing outside the volumes.
        var confined = builder
        confined.onlyInsideVolumes = true
        do {
            let (vms, errors) = try inventory.read()
            let listed = Set(vms.map(\.id))
            for vm in vms where !released.contains(vm.id) { metadata[vm.id] = vm.metadata }
            report.vms =
                vms.filter { !released.contains($0.id) }.map(builder.build)
                + adopted.filter { !listed.contains($0.id) }.map(confined.build)
            report.inventoryErrors = errors
        } catch {
            let message = error.description
            warnings.append(message)
            report.inventoryErrors = [ReportedInventoryError(vm: nil, message: message)]
            report.vms = adopted.map(confined.build)
        }
        report.discoveredDisks = DiskDiscovery.differencingDisks(on: volumes, fileSystem: fileSystem)
        return (report, warnings, metadata)
    }
}
