import Agent
import ClusterAPI
import DiskAccess
import DiskFormats
import Foundation
import Testing

@testable import AgentService

@Suite struct HeaderCacheTests {
    /// A rescan of unchanged files parses nothing; a file whose modification time moves is parsed again, alone.
    @Test func onlyChangedFilesAreParsedAgain() throws {
        let scratch = try Scratch()
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
}
