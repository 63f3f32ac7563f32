import Agent
import ChainModel
import ClusterAPI
import DiskFormats
import Foundation
import Logging
import ShellHooks
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 20 item 8 on the agent's side: a definition from the coordinator (a preflight, an adoption) never makes the
/// agent touch a path outside its volumes, and the agent's own report never carries what the coordinator refuses.
@Suite struct HostileDefinitionTests {
    /// A FIFO outside the volume: opening it to read a header would block for ever, so the build finishing at all
    /// proves nothing opened it.
    @Test func aDefinitionNamingPathsOutsideTheVolumesTouchesNoneOfThem() throws {
        let scratch = try Scratch()
        let volumeRoot = try scratch.directory("csv1")
        let outside = try scratch.directory("outside")
        _ = try VolumeMarker(id: "id-csv1", name: "csv1").write(into: volumeRoot)
        #expect(mkfifo(outside + "/trap.vhdx", 0o600) == 0)
        let volumes = VolumeDiscovery.discover(in: [volumeRoot], mounts: MountTable(mounts: []))
        let definition = InventoryVM(
            id: "vm-1",
            name: "web01",
            state: "Running",
            highlyAvailable: true,
            memoryMiB: 1024,
            configurationPath: volumeRoot + "/../outside/trap.vhdx",
            runtimeStatePath: nil,
            guestStatePath: nil,
            disks: [volumeRoot + "/../outside/trap.vhdx", outside + "/trap.vhdx"],
            snapshots: []
        )
        let built = Mutex<ReportedVM?>(nil)
        let thread = Thread {
            built.withLock { $0 = FileSetBuilder(volumes: volumes, onlyInsideVolumes: true).build(definition) }
        }
        thread.start()
        let deadline = ContinuousClock.now + .seconds(10)
        while built.withLock({ $0 == nil }), ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let vm = try #require(built.withLock { $0 }, "the build blocked: it opened the FIFO outside the volume")
        #expect(vm.files.allSatisfy { $0.volumeId == nil && $0.problem == nil })
        #expect(vm.files.map(\.path) == [outside + "/trap.vhdx"], "one file, normalized, never opened")
    }

    @Test func theAgentTurnsWhatTheCoordinatorWouldRefuseIntoInventoryErrors() throws {
        var good = ReportedVM(id: "vm-good", name: "good", state: "Running", highlyAvailable: true, memoryMiB: 512)
        good.files = [ReportedFile(path: "/mnt/csv1/good.vmcx", kind: "configuration")]
        var escape = good
        escape.id = "vm-escape"
        escape.name = "bad\u{1B}[2J"
        var huge = good
        huge.id = "vm-huge"
        huge.memoryMiB = Int.max
        var volume = ReportedVolume(id: "v1", name: "csv1", mountPath: "/mnt/csv1")
        volume.probeRead = (0..<2_000).map { "nonce-\($0)" }
        let badVolume = ReportedVolume(id: "v2", name: "csv\n2", mountPath: "/mnt/csv2")
        let report = AgentReport(
            node: "node1",
            driver: "hyperv-json",
            volumes: [volume, badVolume],
            vms: [good, escape, huge],
            inventoryErrors: [ReportedInventoryError(vm: "x\u{7}", message: String(repeating: "m", count: 10_000))]
        )
        #expect(throws: ReportFieldError.self) { try report.validate() }
        let (bounded, removed) = report.bounded()
        try bounded.validate()
        #expect(bounded.vms.map(\.id) == ["vm-good"])
        #expect(bounded.volumes.map(\.id) == ["v1"])
        #expect(bounded.volumes[0].probeRead.count == ReportLimits.noncesRead)
        #expect(removed.count == 3)
        #expect(bounded.inventoryErrors.contains { $0.vm == #"bad\u{1B}[2J"# && $0.message.contains("vm.name") })
        #expect(bounded.inventoryErrors.allSatisfy { $0.message.utf8.count <= 4096 })
        #expect(bounded.inventoryErrors.first?.vm == #"x\u{7}"#)
    }

    /// Every line a daemon logs is escaped: a message or metadata from an agent cannot forge a line.
    @Test func theDaemonsLogHandlerEscapesMessagesAndMetadata() {
        final class Lines: Sendable {
            let value = Mutex<[String]>([])
        }
        let lines = Lines()
        struct Capture: LogHandler {
            let lines: Lines
            var logLevel: Logger.Level = .trace
            var metadata: Logger.Metadata = [:]
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
                let text = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                lines.value.withLock { $0.append("\(event.message) \(text)") }
            }
        }
        var logger = Logger(label: "test") { _ in EscapingLogHandler(base: Capture(lines: lines)) }
        logger[metadataKey: "vm"] = "web\n01"
        logger.warning("refused \("x\u{1B}[2J")", metadata: ["path": "/a\nforged=1", "list": ["\u{7}"]])
        let line = lines.value.withLock { $0.first } ?? ""
        #expect(
            !line.contains("\n") && !line.unicodeScalars.contains("\u{1B}") && !line.unicodeScalars.contains("\u{7}")
        )
        #expect(line.contains(#"refused x\u{1B}[2J"#) && line.contains(#"vm=web\n01"#))
    }
}
