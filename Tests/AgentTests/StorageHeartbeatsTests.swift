import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation
import Testing

@testable import AgentService

/// The agent's storage heartbeat on real files (SPEC §6): a failover target's own `source-alive` check, lost volumes
/// reported with how long, and which VMs an isolated node stops.
@Suite struct StorageHeartbeatsTests {
    let root: String

    init() throws {
        root = NSTemporaryDirectory() + "ck-storage-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/shared", withIntermediateDirectories: true)
    }

    /// `node`'s heartbeats, knowing volume `v1` at `root/shared` as shared, and owning `vms` (HA, running or not).
    func heartbeats(_ node: String, vms: [(String, Bool)] = [], mount: String? = nil) -> StorageHeartbeats {
        let storage = StorageHeartbeats(node: NodeName(node))
        storage.learn(shared: ["v1"])
        storage.learn(
            from: AgentReport(
                node: node,
                driver: "hyperv-json",
                volumes: [ReportedVolume(id: "v1", name: "shared", mountPath: mount ?? root + "/shared")],
                vms: vms.map {
                    ReportedVM(
                        id: $0.0,
                        name: $0.0,
                        state: Reported($0.1 ? PowerState.running : PowerState.off),
                        highlyAvailable: true,
                        memoryMiB: 1024
                    )
                }
            )
        )
        return storage
    }

    @Test func aFailoverTargetRefusesWhileTheSourcesRecordIsFreshAndListsTheVMRunning() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let source = heartbeats("src", vms: [("web1", true), ("db1", false)])
        let target = heartbeats("dst")
        let ttl = Duration.seconds(10)
        var now = MonotonicTime(milliseconds: 1_000)
        #expect(source.round(condition: .isolated, at: now)?.written == true)

        let alive = target.sourceAlive(NodeName("src"), vm: VMID("web1"), leaseTTL: ttl, at: now)
        #expect(alive?.contains("lists the VM running") == true, "\(alive ?? "nil")")
        // A VM listed stopped, a VM the record does not list (never read as stopped, but not running either), and the
        // target's own name: no refusal.
        #expect(target.sourceAlive(NodeName("src"), vm: VMID("db1"), leaseTTL: ttl, at: now) == nil)
        #expect(target.sourceAlive(NodeName("src"), vm: VMID("other"), leaseTTL: ttl, at: now) == nil)
        #expect(target.sourceAlive(NodeName("dst"), vm: VMID("web1"), leaseTTL: ttl, at: now) == nil)

        // Unchanged for less than a lease: still alive; for more: the source stopped writing, the failover goes on.
        now = now + .seconds(9)
        #expect(target.sourceAlive(NodeName("src"), vm: VMID("web1"), leaseTTL: ttl, at: now) != nil)
        now = now + .seconds(2)
        #expect(target.sourceAlive(NodeName("src"), vm: VMID("web1"), leaseTTL: ttl, at: now) == nil)
        // It writes again: fresh again.
        #expect(source.round(condition: .running, at: now)?.written == true)
        #expect(target.sourceAlive(NodeName("src"), vm: VMID("web1"), leaseTTL: ttl, at: now) != nil)
        // A record that says fenced: its fence hook stopped its VMs.
        #expect(source.round(condition: .fenced, at: now)?.written == true)
        #expect(target.sourceAlive(NodeName("src"), vm: VMID("web1"), leaseTTL: ttl, at: now) == nil)
    }

    @Test func slotsAreReadWithDirectIOWholeAndBounded() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let vms: [StorageHeartbeat.Entry] = (0..<500).map {
            .init(vm: VMID("vm-\($0)"), epoch: Epoch(Int64($0) + 1), running: $0 % 2 == 0)
        }
        let bytes = StorageHeartbeatRecord.encodeList(node: NodeName("big"), version: 3, vms: vms)
        #expect(bytes.count > 3 * 4096, "a record over several pages: \(bytes.count) bytes")
        let path = root + "/slot.hb"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        // The test directory is on the machine's ext4 disk, which does direct I/O (tmpfs would not).
        let direct = try #require(StorageHeartbeats.readDirect(path), "O_DIRECT read refused on \(root)")
        #expect(direct == bytes)
        #expect(StorageHeartbeats.readSlot(path) == bytes)
        #expect(StorageHeartbeatRecord.decodeList(direct)?.vms == vms)
        // An oversized file is read only one byte past the limit.
        try Data(repeating: 0x41, count: StorageHeartbeatRecord.maxBytes + 10_000).write(to: URL(fileURLWithPath: path))
        #expect(StorageHeartbeats.readDirect(path)?.count == StorageHeartbeatRecord.maxBytes + 1)
        #expect(StorageHeartbeats.readSlot(root + "/missing.hb") == nil)
    }

    @Test func theVMListIsRewrittenOnlyWhenItChanges() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = root + "/shared/" + StorageHeartbeatRecord.directory + "/"
        let slotPath = directory + StorageHeartbeatRecord.fileName(of: NodeName("w"))
        let listPath = directory + StorageHeartbeatRecord.listFileName(of: NodeName("w"))
        func inode(_ path: String) throws -> Int {
            try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int)
        }
        let writer = heartbeats("w", vms: [("web1", true)])
        let reader = heartbeats("r")
        var now = MonotonicTime(milliseconds: 1_000)
        _ = writer.round(condition: .running, at: now)
        let (slot, list) = (try inode(slotPath), try inode(listPath))
        now = now + .seconds(2)
        _ = writer.round(condition: .running, at: now)
        // Written whole by rename: a new slot file every period, the same list file while the list is the same.
        #expect(try inode(slotPath) != slot)
        #expect(try inode(listPath) == list, "the unchanged VM list was rewritten")
        _ = reader.round(condition: .running, at: now)
        #expect(reader.sourceAlive(NodeName("w"), vm: VMID("web1"), leaseTTL: .seconds(10), at: now) != nil)

        // web1 stops: the list is rewritten once, and the reader sees it stopped.
        writer.learn(
            from: AgentReport(
                node: "w",
                driver: "hyperv-json",
                volumes: [ReportedVolume(id: "v1", name: "shared", mountPath: root + "/shared")],
                vms: [ReportedVM(id: "web1", name: "web1", state: "Off", highlyAvailable: true, memoryMiB: 1024)]
            )
        )
        now = now + .seconds(2)
        _ = writer.round(condition: .isolated, at: now)
        #expect(try inode(listPath) != list)
        _ = reader.round(condition: .running, at: now)
        #expect(reader.report(at: now, period: .seconds(2))?.readings.first?.stopped?.map(\.vmId) == ["web1"])
        #expect(reader.sourceAlive(NodeName("w"), vm: VMID("web1"), leaseTTL: .seconds(10), at: now) == nil)

        // A slot naming a list version that is not there yet (the writer between its writes): the source counts as
        // alive, whatever its last list said.
        let ahead = StorageHeartbeatRecord.Slot(node: NodeName("w"), counter: 999, condition: .isolated, listVersion: 1)
        try Data(StorageHeartbeatRecord.encode(ahead)).write(to: URL(fileURLWithPath: slotPath))
        let alive = reader.sourceAlive(NodeName("w"), vm: VMID("web1"), leaseTTL: .seconds(10), at: now)
        #expect(alive?.contains("being rewritten") == true, "\(alive ?? "nil")")
    }

    @Test func anAgentReadsOnlyThePeersTheCoordinatorAssigned() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let now = MonotonicTime(milliseconds: 1_000)
        for name in ["p1", "p2", "p3"] { _ = heartbeats(name).round(condition: .running, at: now) }
        let reader = heartbeats("me")
        _ = reader.round(condition: .running, at: now)
        #expect(Set(reader.report(at: now, period: .seconds(2))?.readings.map(\.node) ?? []) == ["p1", "p2", "p3"])
        let assigned = heartbeats("me2")
        assigned.learn(shared: nil, readPeers: ["p2", "gone"])
        _ = assigned.round(condition: .running, at: now)
        #expect(assigned.report(at: now, period: .seconds(2))?.readings.map(\.node) == ["p2"])
    }

    @Test func aSharedVolumeThatCannotBeWrittenIsReportedLostWithHowLong() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let mount = root + "/gone"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let storage = heartbeats("n1", mount: mount)
        let start = MonotonicTime(milliseconds: 5_000)
        #expect(storage.round(condition: .running, at: start)?.written == true)
        #expect(storage.report(at: start, period: .seconds(2))?.lost == nil)
        // The mount point vanishes (an unmounted or dead path): every write fails from now on.
        try FileManager.default.removeItem(atPath: mount)
        let later = start + .seconds(30)
        #expect(storage.round(condition: .running, at: later)?.written == false)
        let lost = storage.report(at: later + .seconds(1), period: .seconds(2))?.lost
        #expect(lost?.map(\.volume) == ["v1"])
        // Counted from the last write that succeeded.
        #expect(lost?.first?.forMilliseconds == 31_000)
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        #expect(storage.round(condition: .running, at: later + .seconds(2))?.written == true)
        #expect(storage.report(at: later + .seconds(2), period: .seconds(2))?.lost == nil)
    }

    @Test func anIsolatedNodeStopsOnlyItsRunningStopVMsAndRetriesLater() {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let storage = heartbeats("n1", vms: [("web1", true), ("db1", true), ("old", false)])
        storage.learn(isolationStop: ["web1", "old"], digest: "2-abc", timeout: .seconds(45))
        #expect(storage.isolationStopDigest == "2-abc" && storage.isolationTimeout == .seconds(45))
        // An answer without a list keeps the one it has.
        storage.learn(isolationStop: nil, digest: nil, timeout: nil)
        #expect(storage.isolationStopDigest == "2-abc")
        let now = MonotonicTime(milliseconds: 60_000)
        #expect(storage.claimIsolationStops(at: now, retry: .seconds(10)).map(\.vm.vm) == [VMID("web1")])
        #expect(storage.claimIsolationStops(at: now + .seconds(5), retry: .seconds(10)).isEmpty, "tried already")
        #expect(storage.claimIsolationStops(at: now + .seconds(10), retry: .seconds(10)).map(\.name) == ["web1"])
        storage.isolationEnded()
        #expect(storage.claimIsolationStops(at: now + .seconds(11), retry: .seconds(10)).count == 1)
    }
}
