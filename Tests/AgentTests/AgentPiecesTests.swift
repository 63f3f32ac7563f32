import Agent
import ClusterAPI
import DiskAccess
import DiskFormats
import Foundation
import Testing

/// A temporary directory tree for agent tests, removed afterwards.
final class Scratch {
    let path: String

    init() throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("chainkeeper-agent-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func directory(_ relative: String) throws -> String {
        let full = LocalPath.join(path, relative)
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        return full
    }

    func file(_ relative: String, _ text: String = "x") throws -> String {
        let full = LocalPath.join(path, relative)
        try FileManager.default.createDirectory(
            atPath: LocalPath.directory(of: full),
            withIntermediateDirectories: true
        )
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
        return full
    }
}

@Suite struct MountTableTests {
    @Test func parsesMountinfoWithEscapesAndPicksTheDeepestMount() {
        let text = """
            22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
            40 22 0:45 / /mnt/csv\\0401 rw,relatime shared:20 - nfs4 sofs:/vms rw,vers=4.2
            41 40 0:46 / /mnt/csv\\0401/gfs rw - gfs2 /dev/sdb rw
            bogus line
            """
        let table = MountTable.parse(text)
        #expect(table.mounts.count == 3)
        #expect(table.filesystemType(of: "/mnt/csv 1/web01/disk.vhdx") == "nfs4")
        #expect(table.filesystemType(of: "/mnt/csv 1/gfs/x") == "gfs2")
        #expect(table.filesystemType(of: "/srv/local") == "ext4")
    }

    @Test func theRealMountTableHasARoot() {
        #expect(MountTable.current().filesystemType(of: "/") != nil)
    }
}

@Suite struct VolumeDiscoveryTests {
    @Test func findsMarkersInListedDirectoriesAndTheirChildrenAndLocatesFilesThroughLinks() throws {
        let scratch = try Scratch()
        let csv = try scratch.directory("storage/csv1")
        let local = try scratch.directory("local")
        _ = try scratch.directory("storage/unmarked")
        _ = try VolumeMarker(id: "id-csv1", name: "csv1").write(into: csv)
        _ = try VolumeMarker(id: "id-local", name: "node1-local").write(into: local)
        // The same shared volume seen through another path, as a second node would mount it.
        try FileManager.default.createSymbolicLink(
            atPath: LocalPath.join(scratch.path, "csv-alias"),
            withDestinationPath: csv
        )

        let volumes = VolumeDiscovery.discover(
            in: [LocalPath.join(scratch.path, "storage"), local],
            mounts: MountTable(mounts: [MountTable.Mount(mountPoint: "/", filesystemType: "ext4")])
        )
        #expect(volumes.count == 2)
        #expect(Set(volumes.map(\.marker.id)) == ["id-csv1", "id-local"])
        #expect(volumes.allSatisfy { $0.filesystemType == "ext4" })

        let direct = VolumeDiscovery.locate(LocalPath.join(csv, "web01/disk.vhdx"), in: volumes)
        #expect(direct?.volume.marker.id == "id-csv1")
        #expect(direct?.relativePath == "web01/disk.vhdx")
        _ = try scratch.file("csv-alias/web01/disk.vhdx")
        let viaLink = VolumeDiscovery.locate(LocalPath.join(scratch.path, "csv-alias/web01/disk.vhdx"), in: volumes)
        #expect(viaLink?.volume.marker.id == "id-csv1")
        #expect(viaLink?.relativePath == "web01/disk.vhdx")
        #expect(VolumeDiscovery.locate("/etc/hostname", in: volumes) == nil)
    }

    @Test func aDamagedMarkerIsNotAVolume() throws {
        let scratch = try Scratch()
        _ = try scratch.file("v/.chainkeeper-volume", "{\"id\": ")
        #expect(
            VolumeDiscovery.discover(in: [LocalPath.join(scratch.path, "v")], mounts: MountTable(mounts: [])).isEmpty
        )
    }
}

@Suite struct HyperVInventoryTests {
    @Test func malformedEntriesBecomeErrorsAndTheRestArrives() throws {
        let json = """
            {"version": 1, "exportedBy": "Get-VM", "vms": [
              {"id": "a", "name": "web01", "state": "Running", "highlyAvailable": true, "memoryMiB": 4096,
               "configurationPath": "/mnt/csv1/web01/a.vmcx", "disks": ["/mnt/csv1/web01/w.avhdx"],
               "snapshots": [{"id": "s1", "name": "before-upgrade", "parentId": null, "created": "2026-11-20T10:00:00Z",
                              "memoryPath": "/mnt/csv1/web01/s1.vmrs", "disks": ["/mnt/csv1/web01/w.vhdx"], "extra": 1}]},
              {"name": "noid", "state": "Off"},
              {"id": "c", "name": "baddisks", "state": "Off", "disks": "not-a-list"},
              {"id": "d", "name": "badtime", "state": "Off", "snapshots": [{"id": "s", "created": "yesterday"}]},
              "not an object"
            ]}
            """
        let (vms, errors) = try HyperVInventory.parse(Data(json.utf8))
        #expect(vms.map(\.name) == ["web01"])
        #expect(vms[0].snapshots.first?.created == 1_795_168_800_000)
        #expect(vms[0].snapshots.first?.disks == ["/mnt/csv1/web01/w.vhdx"])
        #expect(errors.map(\.vm) == ["noid", "baddisks", "badtime", "entry 4"])
        #expect(errors[0].message == "id is missing")
        #expect(errors[1].message.contains("disks is not an array"))
        #expect(errors[2].message.contains("yesterday"))
    }

    @Test(arguments: ["{\"version\": 1, \"vms\": [", "[]", "{\"version\": 3, \"vms\": []}", "{\"version\": 1}"])
    func aFileThatIsNotAnInventoryIsAClearError(text: String) {
        #expect(throws: HyperVInventory.FileError.self) { try HyperVInventory.parse(Data(text.utf8)) }
    }
}
