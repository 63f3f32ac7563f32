import ChainModel
import ClusterAPI
import DiskFormats
import Foundation
import FoundationXML
import ShellHooks

/// `libvirt` (SPEC §4): libvirt's persistent domain XML (`domains`, default `/etc/libvirt/qemu`) and each domain's
/// snapshot XML (`snapshots/NAME/*.xml`, default `/var/lib/libvirt/qemu/snapshot`).
///
/// - The file set holds the domain's disks of device `disk` or `lun` (CD-ROM and floppy media are not part of a VM's
///   state) and, per snapshot, its external memory file and the disks of the domain definition it captured: after an
///   external snapshot those files hold the snapshot's disk state, and the overlay libvirt created on top is either the
///   domain's current disk or a later snapshot's. Chains come from the qcow2 headers; each overlay's backing file as the
///   snapshot XML implies it is checked against its header (`declaredBackings`).
/// - The domain and snapshot XML themselves are not in the file set: they live in `/etc` and `/var/lib` on each host,
///   and the adopt hook redefines them on the target (`virsh define`, `virsh snapshot-create --redefine`).
/// - Network, block and pool-volume disks are listed by source; `sharedSources` decides who reaches them.
/// - The live state (`live`, default `/run/libvirt/qemu`: `<domstatus>` wrapping the running `<domain>`) is read too
///   (issue 23): an active domain is reported with the disks it really uses, and a transient one (started with
///   `virsh create`, no persistent XML) is reported at all instead of its overlays looking like orphans.
/// - Files libvirt keeps on the host by default are part of the file set, so a VM whose state sits on a local disk is
///   stranded like any other: the UEFI variable store (`<os><nvram>`, as the guest state) and a managed-save image
///   (`save/NAME.save` beside the snapshot directory, as the runtime state).
/// - State comes from `stateCommand` (`{name}` replaced by the shell-quoted domain name) when it is set; otherwise from
///   the live state (a domain with none is off), and `Running` when the live directory cannot be read. libvirt VMs are
///   highly available unless their policy says otherwise.
public struct LibvirtSource: InventorySource {
    public var domains: String
    public var snapshots: String
    public var stateCommand: String?
    /// libvirt's live state directory; `nil` reads none.
    public var live: String?
    /// Where libvirt keeps each domain's swtpm state (`UUID/tpm2/tpm2-00.permall`); `nil` reads none.
    public var swtpm: String?
    public var driver: InventoryDriver { .libvirt }

    public init(
        domains: String = "/etc/libvirt/qemu",
        snapshots: String = "/var/lib/libvirt/qemu/snapshot",
        stateCommand: String? = nil,
        live: String? = "/run/libvirt/qemu",
        swtpm: String? = "/var/lib/libvirt/swtpm"
    ) {
        self.swtpm = swtpm
        self.domains = domains
        self.snapshots = snapshots
        self.stateCommand = stateCommand
        self.live = live
    }

    typealias LiveDomain = (domain: LibvirtXML.Domain, state: String, path: String)

    /// The active domains by uuid, from the live state directory; `nil` when it cannot be read.
    ///
    /// A live file that does not parse is left out (libvirt rewrites it as the domain runs).
    func liveDomains() -> [String: LiveDomain]? {
        guard let live, let files = try? FileManager.default.contentsOfDirectory(atPath: live) else { return nil }
        var found: [String: LiveDomain] = [:]
        for file in files.sorted() where file.hasSuffix(".xml") {
            let path = (live as NSString).appendingPathComponent(file)
            guard let data = Self.contents(path), let entry = try? LibvirtXML.liveDomain(data, what: path) else {
                continue
            }
            found[entry.domain.uuid] = (entry.domain, entry.state, path)
        }
        return found
    }

    public func read() throws(InventoryReadError) -> (vms: [InventoryVM], errors: [ReportedInventoryError]) {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: domains).filter { $0.hasSuffix(".xml") }
                .sorted()
        } catch {
            throw InventoryReadError("libvirt domains directory \(domains) cannot be read")
        }
        let active = liveDomains()
        var vms: [InventoryVM] = []
        var errors: [ReportedInventoryError] = []
        var persistent: Set<String> = []
        for file in files {
            let fallback = String(file.dropLast(4))
            do throws(EntryError) {
                let path = (domains as NSString).appendingPathComponent(file)
                guard let data = Self.contents(path) else { throw EntryError(message: "\(path) cannot be read") }
                let domain: LibvirtXML.Domain
                do throws(LibvirtXML.Failure) {
                    domain = try LibvirtXML.domain(data, what: path)
                } catch {
                    throw EntryError(message: error.description)
                }
                persistent.insert(domain.uuid)
                let running = active?[domain.uuid]
                vms.append(
                    try vm(
                        of: running?.domain ?? domain,
                        definition: domain,
                        liveState: active.map { _ in running?.state ?? "Off" }
                    )
                )
            } catch {
                errors.append(ReportedInventoryError(vm: error.vm ?? fallback, message: error.message))
            }
        }
        // Transient domains: running, with no persistent definition.
        for (uuid, running) in (active ?? [:]).sorted(by: { $0.key < $1.key }) where !persistent.contains(uuid) {
            do throws(EntryError) {
                // Its only definition is the running one: re-serialised from the live file (transient domains are few).
                var domain = running.domain
                if let data = Self.contents(running.path),
                    let element = (try? LibvirtXML.document(data, what: running.path))?.elements(forName: "domain")
                        .first
                {
                    domain.cleanedXML = LibvirtMetadata.cleaned(element)
                }
                vms.append(try vm(of: domain, liveState: running.state))
            } catch {
                errors.append(ReportedInventoryError(vm: error.vm ?? running.domain.name, message: error.message))
            }
        }
        return (vms, errors)
    }

    struct EntryError: Error {
        var vm: String?
        var message: String
    }

    /// `domain` (as it runs, when it is active) with its snapshots and the host files libvirt keeps for it.
    private func vm(
        of domain: LibvirtXML.Domain,
        definition: LibvirtXML.Domain? = nil,
        liveState: String?
    ) throws(EntryError) -> InventoryVM {
        var checkpoints: [InventoryVM.Snapshot] = []
        var sources = Self.sources(of: domain, snapshot: nil)
        var declared: [InventoryVM.DeclaredBacking] = []
        // Every overlay a snapshot's XML names: after a revert (to an internal snapshot, or by hand) it may be neither
        // the current disk nor a later snapshot's captured disk, and a file a snapshot names is never an orphan.
        var overlays: [String] = []
        var parents: [(snapshot: String, parent: String)] = []
        var definitions: [HypervisorMetadata.Snapshot] = []
        let directory = (snapshots as NSString).appendingPathComponent(domain.name)
        let snapshotFiles =
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".xml") }
            .sorted()
        for file in snapshotFiles {
            let snapshotPath = (directory as NSString).appendingPathComponent(file)
            guard let data = Self.contents(snapshotPath) else {
                throw EntryError(vm: domain.name, message: "\(snapshotPath) cannot be read")
            }
            let snapshot: LibvirtXML.Snapshot
            do throws(LibvirtXML.Failure) {
                snapshot = try LibvirtXML.snapshot(data, what: snapshotPath)
            } catch {
                throw EntryError(vm: domain.name, message: error.description)
            }
            let captured = snapshot.domain?.disks ?? []
            checkpoints.append(
                InventoryVM.Snapshot(
                    id: snapshot.name,
                    name: snapshot.name,
                    parentId: snapshot.parent,
                    created: snapshot.creationTime.map { $0 * 1000 },
                    configurationPath: nil,
                    memoryPath: snapshot.memoryFile,
                    savedStatePath: nil,
                    disks: Self.fileDisks(captured)
                )
            )
            if let capturedDomain = snapshot.domain {
                sources += Self.sources(of: capturedDomain, snapshot: snapshot.name)
            }
            overlays += snapshot.overlays.sorted(by: { $0.key < $1.key }).map(\.value)
            for (target, overlay) in snapshot.overlays.sorted(by: { $0.key < $1.key }) {
                if let backing = captured.first(where: { $0.target == target && $0.type == "file" })?.source {
                    declared.append(InventoryVM.DeclaredBacking(overlay: overlay, backing: backing))
                }
            }
            if let parent = snapshot.parent { parents.append((snapshot.name, parent)) }
            definitions.append(
                HypervisorMetadata.Snapshot(
                    name: snapshot.name,
                    parent: snapshot.parent,
                    current: snapshot.current,
                    xml: snapshot.cleanedXML
                )
            )
        }
        let names = Set(checkpoints.map(\.id))
        if let orphan = parents.first(where: { !names.contains($0.parent) }) {
            throw EntryError(
                vm: domain.name,
                message: "snapshot \(orphan.snapshot) of \(domain.name) names parent \(orphan.parent), which has no "
                    + "snapshot XML in \(directory)"
            )
        }
        // libvirt forbids `/` in a domain name; a name that could leave the directory is never joined.
        let plainName = !domain.name.contains("/") && domain.name != "." && domain.name != ".."
        let managedSave = LocalPath.join(LocalPath.directory(of: snapshots), "save/" + domain.name + ".save")
        let disks =
            Self.fileDisks(domain.disks) + Self.leftOver(overlays, current: domain.disks, checkpoints: checkpoints)
        var vm = InventoryVM(
            id: domain.uuid,
            name: domain.name,
            state: state(of: domain.name, live: liveState),
            highlyAvailable: true,
            memoryMiB: domain.memoryMiB,
            configurationPath: nil,
            runtimeStatePath: plainName && FileManager.default.fileExists(atPath: managedSave) ? managedSave : nil,
            guestStatePath: domain.nvram,
            disks: disks,
            snapshots: checkpoints,
            sources: sources.isEmpty ? nil : sources,
            declaredBackings: declared.isEmpty ? nil : declared
        )
        // An emulated TPM's state, which libvirt keeps on this host by default: guest state like the UEFI variables. A
        // TPM never started has no state yet, and nothing to strand.
        if let version = domain.tpmEmulator, let swtpm, !domain.uuid.contains("/") {
            let state = version == "1.2" ? "tpm1.2/tpm-00.permall" : "tpm2/tpm2-00.permall"
            let path = LocalPath.join(LocalPath.join(swtpm, domain.uuid), state)
            if FileManager.default.fileExists(atPath: path) { vm.guestStateFiles = [path] }
        }
        // The persistent definition when there is one (what a define on another host takes), else the running one.
        vm.metadata = HypervisorMetadata(
            driver: "libvirt",
            domainXML: (definition ?? domain).cleanedXML,
            snapshots: LibvirtMetadata.treeOrder(definitions),
            // The files the domain writes to: not the overlays a revert left behind, which are in the file set only.
            leaves: Self.fileDisks(domain.disks).map(LocalPath.normalize),
            secrets: (definition ?? domain).secrets
        )
        return vm
    }

    /// Overlays snapshots name that are neither a current disk nor a snapshot's captured disk (a branch left behind by
    /// a revert): listed with the VM's disks, so their chains are walked and they count for reachability.
    static func leftOver(
        _ overlays: [String],
        current: [LibvirtXML.Disk],
        checkpoints: [InventoryVM.Snapshot]
    ) -> [String] {
        var known = Set(fileDisks(current) + checkpoints.flatMap(\.disks))
        return overlays.filter { known.insert($0).inserted }
    }

    /// File-backed disks (device `disk` or `lun`) with a source.
    static func fileDisks(_ disks: [LibvirtXML.Disk]) -> [String] {
        disks.filter { $0.type == "file" && ($0.device == "disk" || $0.device == "lun") }.compactMap(\.source)
    }

    static func sources(of domain: LibvirtXML.Domain, snapshot: String?) -> [InventoryVM.DiskSource] {
        domain.disks.filter { $0.type != "file" && ($0.device == "disk" || $0.device == "lun") }.compactMap { disk in
            disk.source.map { InventoryVM.DiskSource(type: disk.type, source: $0, snapshotId: snapshot) }
        }
    }

    /// `stateCommand`'s answer as a SPEC §4 state; else the live state's; `Running` when unknown.
    func state(of name: String, live: String? = nil) -> String {
        guard let stateCommand else { return live ?? "Running" }
        let quoted = "'" + name.replacingOccurrences(of: "'", with: "'\\''") + "'"
        let outcome = HookRunner.runBlocking(
            stateCommand.replacingOccurrences(of: "{name}", with: quoted),
            environment: ["CHAINKEEPER_VM_NAME": name],
            timeout: .seconds(10)
        )
        guard outcome.succeeded else { return "Running" }
        return Self.state(fromOutput: outcome.output)
    }

    /// `virsh domstate` words to SPEC §4 states.
    static func state(fromOutput output: String) -> String {
        switch output.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() {
        case "shut off", "shutoff", "crashed": "Off"
        case "paused", "pmsuspended": "Paused"
        default: "Running"
        }
    }

    /// At most 16 MiB: a domain XML is a few KiB.
    static func contents(_ path: String) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: 16 << 20 + 1), data.count <= 16 << 20 else { return nil }
        return data
    }
}
