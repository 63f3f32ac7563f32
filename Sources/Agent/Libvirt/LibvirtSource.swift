import ChainModel
import ClusterAPI
import Foundation
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
/// - State comes from `stateCommand` (`{name}` replaced by the shell-quoted domain name), `Running` when it is unset,
///   fails, or prints something unknown. libvirt VMs are highly available unless their policy says otherwise.
public struct LibvirtSource: InventorySource {
    public var domains: String
    public var snapshots: String
    public var stateCommand: String?
    public var driver: InventoryDriver { .libvirt }

    public init(
        domains: String = "/etc/libvirt/qemu",
        snapshots: String = "/var/lib/libvirt/qemu/snapshot",
        stateCommand: String? = nil
    ) {
        self.domains = domains
        self.snapshots = snapshots
        self.stateCommand = stateCommand
    }

    public func read() throws(InventoryReadError) -> (vms: [InventoryVM], errors: [ReportedInventoryError]) {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: domains).filter { $0.hasSuffix(".xml") }
                .sorted()
        } catch {
            throw InventoryReadError("libvirt domains directory \(domains) cannot be read")
        }
        var vms: [InventoryVM] = []
        var errors: [ReportedInventoryError] = []
        for file in files {
            let fallback = String(file.dropLast(4))
            do {
                vms.append(try vm(from: (domains as NSString).appendingPathComponent(file)))
            } catch {
                errors.append(ReportedInventoryError(vm: error.vm ?? fallback, message: error.message))
            }
        }
        return (vms, errors)
    }

    struct EntryError: Error {
        var vm: String?
        var message: String
    }

    private func vm(from path: String) throws(EntryError) -> InventoryVM {
        guard let data = Self.contents(path) else { throw EntryError(message: "\(path) cannot be read") }
        let domain: LibvirtXML.Domain
        do throws(LibvirtXML.Failure) {
            domain = try LibvirtXML.domain(data, what: path)
        } catch {
            throw EntryError(message: error.description)
        }
        var checkpoints: [InventoryVM.Snapshot] = []
        var sources = Self.sources(of: domain, snapshot: nil)
        var declared: [InventoryVM.DeclaredBacking] = []
        var parents: [(snapshot: String, parent: String)] = []
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
            for (target, overlay) in snapshot.overlays.sorted(by: { $0.key < $1.key }) {
                if let backing = captured.first(where: { $0.target == target && $0.type == "file" })?.source {
                    declared.append(InventoryVM.DeclaredBacking(overlay: overlay, backing: backing))
                }
            }
            if let parent = snapshot.parent { parents.append((snapshot.name, parent)) }
        }
        let names = Set(checkpoints.map(\.id))
        if let orphan = parents.first(where: { !names.contains($0.parent) }) {
            throw EntryError(
                vm: domain.name,
                message: "snapshot \(orphan.snapshot) of \(domain.name) names parent \(orphan.parent), which has no "
                    + "snapshot XML in \(directory)"
            )
        }
        return InventoryVM(
            id: domain.uuid,
            name: domain.name,
            state: state(of: domain.name),
            highlyAvailable: true,
            memoryMiB: domain.memoryMiB,
            configurationPath: nil,
            runtimeStatePath: nil,
            guestStatePath: nil,
            disks: Self.fileDisks(domain.disks),
            snapshots: checkpoints,
            sources: sources.isEmpty ? nil : sources,
            declaredBackings: declared.isEmpty ? nil : declared
        )
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

    /// `stateCommand`'s answer as a SPEC §4 state; `Running` when unknown.
    func state(of name: String) -> String {
        guard let stateCommand else { return "Running" }
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
