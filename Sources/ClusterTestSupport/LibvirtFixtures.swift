import Foundation

/// libvirt domain and snapshot XML written to libvirt's documented schema (formatdomain, formatsnapshot), for tests
/// and the demo: what `virsh define` and `virsh snapshot-create` leave in `/etc/libvirt/qemu` and
/// `/var/lib/libvirt/qemu/snapshot/NAME/`.
public enum LibvirtFixtures {
    public enum Disk: Sendable {
        case file(String, target: String, format: String = "qcow2")
        case network(protocol: String, name: String, target: String)
        case block(String, target: String)
    }

    public struct Snapshot: Sendable {
        public var name: String
        public var parent: String?
        public var creationTime: Int64
        /// The external memory file, if the snapshot saved memory.
        public var memoryFile: String?
        /// Guest device → the overlay created at the snapshot.
        public var overlays: [String: String]
        /// The domain's disks when the snapshot was taken.
        public var capturedDisks: [Disk]

        public init(
            name: String,
            parent: String?,
            creationTime: Int64 = 1_790_000_000,
            memoryFile: String?,
            overlays: [String: String],
            capturedDisks: [Disk]
        ) {
            self.name = name
            self.parent = parent
            self.creationTime = creationTime
            self.memoryFile = memoryFile
            self.overlays = overlays
            self.capturedDisks = capturedDisks
        }
    }

    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&apos;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    public static func domainXML(name: String, uuid: String, memoryKiB: Int64, disks: [Disk]) -> String {
        let devices = disks.map { disk -> String in
            switch disk {
            case .file(let path, let target, let format):
                return """
                        <disk type='file' device='disk'>
                          <driver name='qemu' type='\(format)'/>
                          <source file='\(escape(path))'/>
                          <target dev='\(target)' bus='virtio'/>
                        </disk>
                    """
            case .network(let proto, let image, let target):
                return """
                        <disk type='network' device='disk'>
                          <driver name='qemu' type='raw'/>
                          <source protocol='\(proto)' name='\(escape(image))'/>
                          <target dev='\(target)' bus='virtio'/>
                        </disk>
                    """
            case .block(let device, let target):
                return """
                        <disk type='block' device='disk'>
                          <driver name='qemu' type='raw'/>
                          <source dev='\(escape(device))'/>
                          <target dev='\(target)' bus='virtio'/>
                        </disk>
                    """
            }
        }.joined(separator: "\n")
        return """
            <domain type='kvm'>
              <name>\(escape(name))</name>
              <uuid>\(uuid)</uuid>
              <memory unit='KiB'>\(memoryKiB)</memory>
              <currentMemory unit='KiB'>\(memoryKiB)</currentMemory>
              <vcpu placement='static'>2</vcpu>
              <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
              <devices>
                <emulator>/usr/bin/qemu-system-x86_64</emulator>
            \(devices)
                <disk type='file' device='cdrom'>
                  <target dev='sda' bus='sata'/>
                  <readonly/>
                </disk>
              </devices>
            </domain>

            """
    }

    public static func snapshotXML(_ snapshot: Snapshot, domainName: String, uuid: String, memoryKiB: Int64) -> String {
        let memory =
            snapshot.memoryFile.map { "  <memory snapshot='external' file='\(escape($0))'/>" }
            ?? "  <memory snapshot='no'/>"
        let disks = snapshot.overlays.sorted { $0.key < $1.key }.map { target, overlay in
            """
                <disk name='\(target)' snapshot='external' type='file'>
                  <driver type='qcow2'/>
                  <source file='\(escape(overlay))'/>
                </disk>
            """
        }.joined(separator: "\n")
        let parent = snapshot.parent.map { "  <parent>\n    <name>\(escape($0))</name>\n  </parent>\n" } ?? ""
        let domain = domainXML(name: domainName, uuid: uuid, memoryKiB: memoryKiB, disks: snapshot.capturedDisks)
            .split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
        return """
            <domainsnapshot>
              <name>\(escape(snapshot.name))</name>
              <state>\(snapshot.memoryFile == nil ? "disk-snapshot" : "running")</state>
            \(parent)  <creationTime>\(snapshot.creationTime)</creationTime>
            \(memory)
              <disks>
            \(disks)
              </disks>
            \(domain)
              <active>0</active>
            </domainsnapshot>

            """
    }

    /// Writes a domain and its snapshots under `domains` and `snapshots` as libvirt lays them out.
    public static func write(
        name: String,
        uuid: String,
        memoryKiB: Int64 = 2_097_152,
        disks: [Disk],
        snapshots: [Snapshot],
        domains: String,
        snapshotRoot: String
    ) throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: domains, withIntermediateDirectories: true)
        try domainXML(name: name, uuid: uuid, memoryKiB: memoryKiB, disks: disks)
            .write(toFile: domains + "/\(name).xml", atomically: true, encoding: .utf8)
        guard !snapshots.isEmpty else { return }
        let directory = snapshotRoot + "/\(name)"
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for snapshot in snapshots {
            try snapshotXML(snapshot, domainName: name, uuid: uuid, memoryKiB: memoryKiB)
                .write(toFile: directory + "/\(snapshot.name).xml", atomically: true, encoding: .utf8)
        }
    }
}
