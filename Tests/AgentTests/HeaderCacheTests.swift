import Agent
import ClusterAPI
import DiskAccess
import DiskFormats
import Foundation
import Testing

@testable import AgentService

@Suite struct HeaderCacheTests {
    /// web01 on volume `csv`, its disk the top of a three-disk VHDX chain.
    static func webVM(in scratch: Scratch) throws -> ([DiskFixtures.Written], [LocalVolume], InventoryVM) {
        let directory = try scratch.directory("csv")
        _ = try VolumeMarker(id: "v1", name: "csv").write(into: directory)
        let chain = try DiskFixtures.vhdxChain(in: directory, names: ["base.vhdx", "cp1.avhdx", "cp2.avhdx"])
        let volumes = VolumeDiscovery.discover(in: [directory], mounts: MountTable(mounts: []))
        let vm = InventoryVM(
            id: "a",
            name: "web01",
            state: "Running",
            highlyAvailable: true,
            memoryMiB: 1024,
            configurationPath: nil,
            runtimeStatePath: nil,
            guestStatePath: nil,
            disks: [chain[2].path],
            snapshots: []
        )
        return (chain, volumes, vm)
    }

    /// A rescan of unchanged files parses nothing; a file whose modification time moves is parsed again, alone.
    @Test func onlyChangedFilesAreParsedAgain() throws {
        let scratch = try Scratch()
        let (chain, volumes, vm) = try Self.webVM(in: scratch)
        let cache = HeaderCache([:])
        let first = FileSetBuilder(volumes: volumes, fileSystem: cache).build(vm)
        let afterFirst = cache.takeChanges()
        #expect(afterFirst.parses == 3)
        #expect(afterFirst.hits == 0)

        let second = FileSetBuilder(volumes: volumes, fileSystem: cache).build(vm)
        let afterSecond = cache.takeChanges()
        #expect(afterSecond.parses == 0)
        #expect(afterSecond.hits == 3)
        #expect(second == first, "a cached header gives the same report")

        // A persisted cache, reloaded, still answers; then one file changes.
        let database = try AgentDatabase(path: scratch.path + "/agent.sqlite")
        try database.saveHeaders(afterFirst.changed, keeping: afterFirst.seen)
        let reloaded = HeaderCache(try database.loadHeaders())
        var times = [timespec(tv_sec: 1_900_000_000, tv_nsec: 0), timespec(tv_sec: 1_900_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, chain[1].path, &times, 0) == 0)
        _ = FileSetBuilder(volumes: volumes, fileSystem: reloaded).build(vm)
        let afterTouch = reloaded.takeChanges()
        #expect(afterTouch.parses == 1)
        #expect(afterTouch.hits == 2)
        #expect(afterTouch.changed.map(\.path) == [LocalFileSystem.canonicalPath(chain[1].path)])
    }

    /// Issue 26: a differencing disk in a VM's chain cut short (its BAT places a block past its end) turns the chain
    /// `chain-broken` at the next rescan, although the header cache had it healthy: its modification time moved.
    @Test func aDifferencingDiskCutShortIsChainBrokenAtTheNextRescan() throws {
        let scratch = try Scratch()
        let (chain, volumes, vm) = try Self.webVM(in: scratch)
        let cache = HeaderCache([:])
        let healthy = FileSetBuilder(volumes: volumes, fileSystem: cache).build(vm)
        #expect(healthy.files.allSatisfy { $0.problem == nil })
        #expect(healthy.chains.first?.files.count == 3)

        // What an interrupted copy leaves: the writer puts the BAT at 3 MiB and the file ends 1 MiB later; a block
        // "fully present" at 4 MiB lies past the end.
        let handle = try #require(FileHandle(forUpdatingAtPath: chain[1].path))
        try handle.seek(toOffset: 3 << 20)
        var entry = UInt64(4 << 20 | 6).littleEndian
        try handle.write(contentsOf: Data(bytes: &entry, count: 8))
        try handle.close()
        var times = [timespec(tv_sec: 1_900_000_000, tv_nsec: 0), timespec(tv_sec: 1_900_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, chain[1].path, &times, 0) == 0)

        let broken = FileSetBuilder(volumes: volumes, fileSystem: cache).build(vm)
        let top = try #require(broken.files.first { $0.path == chain[2].path })
        #expect(top.problem == "chain-broken")
        #expect(top.problemDetail?.contains("cut short") == true, "\(top.problemDetail ?? "")")
        #expect(broken.chains.first?.files.count == 1, "the chain stops at the disk whose parent cannot be read")
    }
}
