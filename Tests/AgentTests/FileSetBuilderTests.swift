import Agent
import ClusterAPI
import ClusterTestSupport
import DiskAccess
import DiskFormats
import Foundation
import Testing

@Suite struct FileSetBuilderTests {
    /// csv1 (shared) holds web01's configuration, base disk and two checkpoint disks; node1's local
    /// volume holds a checkpoint memory file; one checkpoint's configuration is missing.
    @Test func buildsTheWholeFileSetWithVolumesChainsAndProblems() throws {
        let scratch = try Scratch()
        let csv = try scratch.directory("csv1")
        let local = try scratch.directory("local")
        _ = try VolumeMarker(id: "id-csv1", name: "csv1").write(into: csv)
        _ = try VolumeMarker(id: "id-local", name: "node1-local").write(into: local)
        let disks = try scratch.directory("csv1/web01/Virtual Hard Disks")
        let chain = try DiskFixtures.vhdxChain(in: disks, names: ["web01.vhdx", "web01_cp1.avhdx", "web01_cp2.avhdx"])
        let config = try scratch.file("csv1/web01/Virtual Machines/a.vmcx")
        let memory = try scratch.file("local/web01/cp2.vmrs", String(repeating: "m", count: 1000))
        let volumes = VolumeDiscovery.discover(in: [csv, local], mounts: MountTable(mounts: []))

        let vm = InventoryVM(
            id: "a",
            name: "web01",
            state: "Running",
            highlyAvailable: true,
            memoryMiB: 2048,
            configurationPath: config,
            runtimeStatePath: nil,
            guestStatePath: nil,
            disks: [chain[2].path],
            snapshots: [
                .init(
                    id: "cp1",
                    name: "first",
                    parentId: nil,
                    created: nil,
                    configurationPath: LocalPath.join(csv, "web01/Snapshots/cp1.vmcx"),
                    memoryPath: nil,
                    savedStatePath: nil,
                    disks: [chain[0].path]
                ),
                .init(
                    id: "cp2",
                    name: "second",
                    parentId: "cp1",
                    created: nil,
                    configurationPath: nil,
                    memoryPath: memory,
                    savedStatePath: nil,
                    disks: [chain[1].path]
                ),
            ]
        )
        let reported = FileSetBuilder(volumes: volumes).build(vm)
        var byName: [String: ReportedFile] = [:]
        for file in reported.files { byName[LocalPath.fileName(of: file.path)] = file }

        #expect(reported.files.count == 6, "\(reported.files.map(\.path))")
        let leaf = try #require(byName["web01_cp2.avhdx"])
        #expect(leaf.volumeId == "id-csv1")
        #expect(leaf.relativePath == "web01/Virtual Hard Disks/web01_cp2.avhdx")
        #expect(leaf.format == "vhdx")
        #expect(leaf.identifier == chain[2].identifier.mixedEndianText)
        #expect(leaf.checkpointId == nil)
        #expect(byName["web01.vhdx"]?.checkpointId == nil, "the base is first reached from the VM's own chain")
        #expect(byName["cp2.vmrs"]?.volumeId == "id-local")
        #expect(byName["cp2.vmrs"]?.kind == "memory")
        #expect(byName["cp2.vmrs"]?.size == 1000)
        #expect(byName["cp1.vmcx"]?.problem == "file-missing")
        #expect(byName["a.vmcx"]?.kind == "configuration")
        let names: [String] = reported.files.map { LocalPath.fileName(of: $0.path) }
        let chainNames: [[String]] = reported.chains.map { chain in chain.files.map { names[$0] } }
        #expect(
            chainNames == [
                ["web01_cp2.avhdx", "web01_cp1.avhdx", "web01.vhdx"], ["web01.vhdx"],
                ["web01_cp1.avhdx", "web01.vhdx"],
            ]
        )
        #expect(reported.checkpoints.map(\.parentId) == [nil, "cp1"])
    }

    @Test func brokenAndMissingParentsMarkTheChildWithTheResolversReason() throws {
        let scratch = try Scratch()
        let csv = try scratch.directory("csv1")
        _ = try VolumeMarker(id: "id-csv1", name: "csv1").write(into: csv)
        let good = try DiskFixtures.vhdxChain(in: csv, names: ["base.vhdx", "child.avhdx"])
        let other = try DiskFixtures.vhdxChain(
            in: try scratch.directory("csv1/other"),
            names: ["base.vhdx", "orphan.avhdx"]
        )
        try FileManager.default.removeItem(atPath: other[0].path)  // orphan's parent is gone
        // A child whose linkage names another base: copy child next to a different base.
        let mismatched = try DiskFixtures.vhdxChain(
            in: try scratch.directory("csv1/mm"),
            names: ["base.vhdx", "child.avhdx"]
        )
        try FileManager.default.removeItem(atPath: mismatched[0].path)
        try FileManager.default.copyItem(atPath: good[0].path, toPath: mismatched[0].path)
        let volumes = VolumeDiscovery.discover(in: [csv], mounts: MountTable(mounts: []))

        let vm = InventoryVM(
            id: "b",
            name: "db01",
            state: "Off",
            highlyAvailable: true,
            memoryMiB: 0,
            configurationPath: nil,
            runtimeStatePath: nil,
            guestStatePath: nil,
            disks: [good[1].path, other[1].path, mismatched[1].path, LocalPath.join(csv, "gone.avhdx")],
            snapshots: []
        )
        let files = FileSetBuilder(volumes: volumes).build(vm).files
        func file(_ path: String) -> ReportedFile? { files.first { $0.path == path } }
        #expect(file(good[1].path)?.problem == nil)
        #expect(file(other[1].path)?.problem == "file-missing")
        #expect(file(other[1].path)?.problemDetail?.contains("relative_path 'base.vhdx'") == true)
        #expect(file(mismatched[1].path)?.problem == "chain-broken")
        #expect(file(mismatched[1].path)?.problemDetail?.contains("parent_linkage") == true)
        #expect(file(LocalPath.join(csv, "gone.avhdx"))?.problem == "file-missing")
    }

    /// Issue 26: a parent outside every volume is listed on no volume (so `check` says `file-on-local-volume`), never
    /// read and never `chain-broken`; a qcow2's external data file is part of the file set, on its volume.
    @Test func aParentOutsideTheVolumesAndAQcow2DataFileAreInTheFileSet() throws {
        let scratch = try Scratch()
        let csv = try scratch.directory("csv1")
        _ = try VolumeMarker(id: "id-csv1", name: "csv1").write(into: csv)
        let outside = try scratch.directory("local")
        _ = try scratch.directory("csv1/vm")
        _ = try scratch.directory("csv1/q")
        let chain = try DiskFixtures.vhdxChain(
            paths: [LocalPath.join(outside, "base.vhdx"), LocalPath.join(csv, "vm/top.avhdx")]
        )
        let tool = "/usr/bin/qemu-img"
        #expect(FileManager.default.isExecutableFile(atPath: tool), "qemu-img is missing: scripts/test installs it")
        let created = try Daemons.runBlocking(
            tool,
            ["create", "-q", "-f", "qcow2", "-o", "data_file=data.raw", LocalPath.join(csv, "q/web.qcow2"), "16M"],
            environment: [:]
        )
        #expect(created.status == 0, "\(created.err)")
        let volumes = VolumeDiscovery.discover(in: [csv], mounts: MountTable(mounts: []))
        let vm = InventoryVM(
            id: "c",
            name: "web02",
            state: "Running",
            highlyAvailable: true,
            memoryMiB: 0,
            configurationPath: nil,
            runtimeStatePath: nil,
            guestStatePath: nil,
            disks: [chain[1].path, LocalPath.join(csv, "q/web.qcow2")],
            snapshots: []
        )
        let built = FileSetBuilder(volumes: volumes).build(vm)
        func file(_ path: String) -> ReportedFile? { built.files.first { $0.path == LocalPath.normalize(path) } }
        let base = try #require(file(chain[0].path), "the parent outside is listed: \(built.files.map(\.path))")
        #expect(base.volumeId == nil && base.problem == nil)
        #expect(base.identifier == nil, "never read")
        #expect(file(chain[1].path)?.problem == nil, "not a broken chain")
        #expect(built.chains.first?.files.count == 2)
        let data = try #require(file(LocalPath.join(csv, "q/data.raw")))
        #expect(data.volumeId == "id-csv1" && data.relativePath == "q/data.raw")
    }
}
