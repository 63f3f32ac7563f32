import Agent
import ClusterAPI
import DiskAccess
import DiskFormats
import Foundation
import Testing

@Suite struct ProbeAndDiscoveryTests {
    @Test func nodesReadEachOthersNoncesAndNamesCannotEscape() throws {
        let scratch = try Scratch()
        let volume = try scratch.directory("csv")
        _ = try VolumeProbe.write(node: "node1", root: volume, nonce: "0123456789abcdef")
        _ = try VolumeProbe.write(node: "../../etc/x", root: volume, nonce: "fedcba9876543210")
        #expect(VolumeProbe.current(node: "node1", root: volume) == "0123456789abcdef")
        #expect(Set(VolumeProbe.readAll(root: volume)) == ["0123456789abcdef", "fedcba9876543210"])
        let names = try FileManager.default.contentsOfDirectory(atPath: volume + "/.chainkeeper/probe")
        #expect(names.count == 2)
        #expect(names.allSatisfy { !$0.contains("/") && $0.hasSuffix(".nonce") })
        // Junk in the probe directory is not a nonce.
        _ = try scratch.file("csv/.chainkeeper/probe/junk.nonce", "not a nonce; DROP")
        #expect(Set(VolumeProbe.readAll(root: volume)) == ["0123456789abcdef", "fedcba9876543210"])
    }

    @Test func aReadOnlyVolumeSaysWhyItCannotBeProbed() throws {
        let scratch = try Scratch()
        let volume = try scratch.directory("ro")
        _ = try scratch.file("ro/.chainkeeper", "a file where the directory should be")
        #expect(throws: ProbeError.self) { try VolumeProbe.write(node: "n", root: volume, nonce: "0123456789abcdef") }
    }

    @Test func discoveryFindsDifferencingDisksOnly() throws {
        let scratch = try Scratch()
        let root = try scratch.directory("csv")
        _ = try VolumeMarker(id: "v1", name: "csv").write(into: root)
        _ = try DiskFixtures.vhdxChain(in: try scratch.directory("csv/vm1"), names: ["base.vhdx", "cp1.avhdx"])
        _ = try DiskFixtures.vhdChain(in: try scratch.directory("csv/vm2/deep"), names: ["base.vhd", "cp.avhd"])
        _ = try scratch.file("csv/vm3/notes.vhdx", "not a disk")
        _ = try DiskFixtures.vhdxChain(in: try scratch.directory("csv/.chainkeeper"), names: ["x.vhdx", "y.avhdx"])
        let volumes = VolumeDiscovery.discover(in: [root], mounts: MountTable(mounts: []))
        let found = DiskDiscovery.differencingDisks(on: volumes, fileSystem: LocalFileSystem())
        #expect(Set(found.map(\.relativePath)) == ["vm1/cp1.avhdx", "vm2/deep/cp.avhd"])
        #expect(found.allSatisfy { $0.volumeId == "v1" })
    }

    /// A volume listed through a symlinked directory (mounted elsewhere on this node) keeps its chains whole.
    @Test func chainsThroughASymlinkedMountResolve() throws {
        let scratch = try Scratch()
        let real = try scratch.directory("real-csv")
        _ = try VolumeMarker(id: "v1", name: "csv").write(into: real)
        let mounts = try scratch.directory("mnt")
        try FileManager.default.createSymbolicLink(atPath: mounts + "/csv", withDestinationPath: real)
        let chain = try DiskFixtures.vhdxChain(in: mounts + "/csv", names: ["base.vhdx", "cp1.avhdx"])
        let volumes = VolumeDiscovery.discover(in: [mounts], mounts: MountTable(mounts: []))
        #expect(volumes.map(\.root) == [mounts + "/csv"])
        let report = FileSetBuilder(volumes: volumes).build(
            InventoryVM(
                id: "a",
                name: "a",
                state: "Off",
                highlyAvailable: true,
                memoryMiB: 1,
                configurationPath: nil,
                runtimeStatePath: nil,
                guestStatePath: nil,
                disks: [chain[1].path],
                snapshots: []
            )
        )
        #expect(report.files.map(\.problem) == [nil, nil])
        #expect(report.files.map(\.relativePath) == ["cp1.avhdx", "base.vhdx"])
        #expect(report.chains.map(\.files) == [[0, 1]])
    }
}
