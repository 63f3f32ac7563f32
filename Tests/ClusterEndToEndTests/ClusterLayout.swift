import Agent
import ClusterTestSupport
import DiskAccess
import DiskFormats
import Foundation

/// The cluster-core scenario on disk: a shared volume every node lists (node c through a symlinked directory, as if
/// mounted elsewhere), a local volume per node, and VMs whose chains are written by our own VHDX writer.
struct ClusterLayout {
    let root: String
    var shared: String { root + "/shared" }
    /// Node c reaches the shared volume through `c-mnt/shared`, a symlink.
    var sharedFromC: String { root + "/c-mnt/shared" }
    func local(_ node: String) -> String { node == "c" ? root + "/c-mnt/local" : root + "/\(node)-local" }
    func inventory(_ node: String) -> String { root + "/inventory-\(node).json" }

    static let hostileName = #"it's "x"; DROP TABLE vm;--/..\evil"#

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ck-e2e-\(UUID().uuidString)").path
        let manager = FileManager.default
        for directory in [shared, local("a"), local("b"), local("c")] {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try manager.createSymbolicLink(atPath: sharedFromC, withDestinationPath: shared)
        _ = try VolumeMarker(id: "11111111-1111-4111-8111-111111111111", name: "shared").write(into: shared)
        for node in ["a", "b", "c"] {
            _ = try VolumeMarker(id: UUID().uuidString.lowercased(), name: "\(node)-local").write(into: local(node))
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }

    /// A small file (configuration or memory state).
    func touch(_ path: String, bytes: Int = 4096) throws {
        try FileManager.default.createDirectory(
            atPath: LocalPath.directory(of: path),
            withIntermediateDirectories: true
        )
        guard FileManager.default.createFile(atPath: path, contents: Data(count: bytes)) else {
            throw CocoaError(.fileWriteUnknown)
        }
    }

    func chain(_ paths: [String]) throws {
        for path in paths {
            try FileManager.default.createDirectory(
                atPath: LocalPath.directory(of: path),
                withIntermediateDirectories: true
            )
        }
        _ = try DiskFixtures.vhdxChain(paths: paths)
    }

    /// A `hyperv-json` VM entry (SPEC §4).
    static func vm(
        _ name: String,
        configuration: String,
        disks: [String],
        snapshots: [[String: Any]] = [],
        memoryMiB: Int = 2048
    ) -> [String: Any] {
        [
            "id": UUID().uuidString.lowercased(), "name": name, "state": "Running", "highlyAvailable": true,
            "memoryMiB": memoryMiB, "configurationPath": configuration, "disks": disks, "snapshots": snapshots,
        ]
    }

    static func snapshot(_ id: String, parent: String?, memory: String?, disks: [String]) -> [String: Any] {
        var snapshot: [String: Any] = [
            "id": id, "name": "checkpoint \(id)", "created": "2026-11-20T10:00:00Z", "disks": disks,
            "parentId": parent ?? NSNull(),
        ]
        if let memory { snapshot["memoryPath"] = memory }
        return snapshot
    }

    func libvirtDomains(_ node: String) -> String { root + "/libvirt-\(node)/qemu" }
    func libvirtSnapshots(_ node: String) -> String { root + "/libvirt-\(node)/snapshot" }

    /// The same VMs as libvirt would hold them.
    ///
    /// A domain XML per VM (its disks, VHDX here as qemu reads them) and a
    /// snapshot XML per checkpoint (its captured disks and external memory file). Configuration files have no libvirt
    /// counterpart on shared storage and are left out.
    func writeLibvirt(_ node: String, _ vms: [[String: Any]]) throws {
        for vm in vms {
            let snapshots = (vm["snapshots"] as? [[String: Any]] ?? []).map { snapshot in
                LibvirtFixtures.Snapshot(
                    name: snapshot["id"] as? String ?? "",
                    parent: snapshot["parentId"] as? String,
                    memoryFile: snapshot["memoryPath"] as? String,
                    overlays: [:],
                    capturedDisks: (snapshot["disks"] as? [String] ?? []).enumerated().map {
                        .file($0.element, target: "vd\(Character(UnicodeScalar(97 + $0.offset)!))", format: "vhdx")
                    }
                )
            }
            try LibvirtFixtures.write(
                name: vm["name"] as? String ?? "",
                uuid: vm["id"] as? String ?? "",
                memoryKiB: Int64(vm["memoryMiB"] as? Int ?? 1024) * 1024,
                disks: (vm["disks"] as? [String] ?? []).enumerated().map {
                    .file($0.element, target: "vd\(Character(UnicodeScalar(97 + $0.offset)!))", format: "vhdx")
                },
                snapshots: snapshots,
                domains: libvirtDomains(node),
                snapshotRoot: libvirtSnapshots(node)
            )
        }
    }

    /// Writes `node`'s inventory (with `suffix`, a file the test's hooks switch to later).
    func writeInventory(_ node: String, _ vms: [[String: Any]], suffix: String = "", version: Int = 1) throws {
        let data = try JSONSerialization.data(withJSONObject: ["version": version, "vms": vms], options: [.sortedKeys])
        // Replace atomically, as an exporter should: the agent never reads half a file.
        try data.write(to: URL(fileURLWithPath: inventory(node) + suffix), options: .atomic)
    }

    /// Builds the four VMs of the issue plus one with a hostile name; returns each node's inventory.
    func buildScenario() throws -> [String: [[String: Any]]] {
        // safe01 on c, entirely on the shared volume, seen through c's symlinked mount.
        let safe = sharedFromC + "/safe01"
        try chain([safe + "/disks/base.vhdx", safe + "/disks/cp1.avhdx", safe + "/disks/cur.avhdx"])
        try touch(safe + "/Virtual Machines/safe01.vmcx")
        try touch(safe + "/Snapshots/cp1.vmrs", bytes: 65536)
        let safe01 = Self.vm(
            "safe01",
            configuration: safe + "/Virtual Machines/safe01.vmcx",
            disks: [safe + "/disks/cur.avhdx"],
            snapshots: [
                Self.snapshot("cp0", parent: nil, memory: nil, disks: [safe + "/disks/base.vhdx"]),
                Self.snapshot(
                    "cp1",
                    parent: "cp0",
                    memory: safe + "/Snapshots/cp1.vmrs",
                    disks: [safe + "/disks/cp1.avhdx"]
                ),
            ]
        )

        // midlocal on c: its middle AVHDX sits on c's local volume.
        let mid = sharedFromC + "/midlocal"
        try chain([mid + "/base.vhdx", local("c") + "/midlocal/mid.avhdx", mid + "/leaf.avhdx"])
        try touch(mid + "/midlocal.vmcx")
        let midlocal = Self.vm(
            "midlocal",
            configuration: mid + "/midlocal.vmcx",
            disks: [mid + "/leaf.avhdx"],
            snapshots: [
                Self.snapshot("m0", parent: nil, memory: nil, disks: [mid + "/base.vhdx"]),
                Self.snapshot("m1", parent: "m0", memory: nil, disks: [local("c") + "/midlocal/mid.avhdx"]),
            ]
        )

        // memlocal on b: disks shared, the checkpoint's memory file on b's local volume.
        let mem = shared + "/memlocal"
        try chain([mem + "/base.vhdx", mem + "/cur.avhdx"])
        try touch(mem + "/memlocal.vmcx")
        try touch(local("b") + "/memlocal/s1.vmrs", bytes: 65536)
        let memlocal = Self.vm(
            "memlocal",
            configuration: mem + "/memlocal.vmcx",
            disks: [mem + "/cur.avhdx"],
            snapshots: [
                Self.snapshot("s1", parent: nil, memory: local("b") + "/memlocal/s1.vmrs", disks: [mem + "/base.vhdx"])
            ]
        )

        // lostparent on a: its base disk is gone.
        let lost = shared + "/lostparent"
        try chain([lost + "/base.vhdx", lost + "/cur.avhdx"])
        try FileManager.default.removeItem(atPath: lost + "/base.vhdx")
        try touch(lost + "/lostparent.vmcx")
        let lostparent = Self.vm("lostparent", configuration: lost + "/lostparent.vmcx", disks: [lost + "/cur.avhdx"])

        // A safe VM whose name is quotes, SQL and path separators.
        let evil = shared + "/evil"
        try chain([evil + "/disk.vhdx"])
        try touch(evil + "/evil.vmcx")
        let hostile = Self.vm(Self.hostileName, configuration: evil + "/evil.vmcx", disks: [evil + "/disk.vhdx"])

        return ["a": [lostparent, hostile], "b": [memlocal], "c": [safe01, midlocal]]
    }
}
