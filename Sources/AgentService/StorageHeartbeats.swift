import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// This node's storage heartbeat (SPEC §6): its record written whole to every shared volume it reaches, and its
/// peers' records read back and judged by how long their counters stay unchanged on this node's monotonic clock.
///
/// Blocking file I/O: `round` runs on the agent's own storage thread, never on the cooperative pool.
public final class StorageHeartbeats: Sendable {
    struct Slot: Hashable, Sendable {
        var node: String
        var volume: String
    }

    struct Seen: Sendable {
        var counter: UInt64?
        var since: MonotonicTime
        var readAt: MonotonicTime
        var record: StorageHeartbeat?
        /// The peer's VM list as last read, with its version (read again only when the slot names another version).
        var list: (version: UInt64, vms: [StorageHeartbeat.Entry])?
        /// Whether `record` carries the VM list of the slot's version (not while the writer is between its writes).
        var listKnown = false
    }

    struct State: Sendable {
        /// Volume ids the coordinator last said are shared (kept through an outage: it never shrinks by silence).
        var shared: [String] = []
        /// Volume id → mount path, from the last rescan.
        var mounts: [String: String] = [:]
        /// Volumes that are not directories (shared sources such as `rbd:…`): no record can be written there.
        var notDirectories: Set<String> = []
        /// The HA VMs this node reported last, as its record lists them, and the list's version: it starts at the wall
        /// clock's milliseconds when the agent starts (so a restarted agent never reuses a version) and grows by one
        /// whenever the list changes.
        var vms: [StorageHeartbeat.Entry] = []
        var listVersion = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        /// The list version last written to each volume (the list file is rewritten only when it differs).
        var listWritten: [String: UInt64] = [:]
        var counter: UInt64 = 0
        var seen: [Slot: Seen] = [:]
        /// Whether the last round reached every shared volume.
        var lastRoundWritten = false
        /// The HA VMs this node owns whose isolation response is `stop`, and the digest the coordinator gave the list.
        var isolationStop: Set<String> = []
        var isolationStopDigest: String?
        /// How long an isolated node waits before stopping them (the coordinator's `isolationTimeout`).
        var isolationTimeout: Duration = .seconds(30)
        /// VM id → name, from the last rescan (for the stop hook's environment and the log).
        var names: [String: String] = [:]
        /// When each VM's isolation stop was last tried, during this isolation.
        var stopTried: [VMID: MonotonicTime] = [:]
        /// Shared volumes whose writes fail, since when (the last success, or the first failure).
        var failingSince: [String: MonotonicTime] = [:]
        /// When each shared volume was last written.
        var writtenAt: [String: MonotonicTime] = [:]
        /// The peers whose records to read (the coordinator's assignment); `nil`: every peer's slot on the volume.
        var readPeers: Set<String>?
    }

    let node: NodeName
    let state = Mutex(State())
    /// The thread every blocking read and write of a slot runs on.
    let queue = DispatchQueue(label: "chainkeeper.agent.storage-heartbeat")

    public init(node: NodeName) {
        self.node = node
    }

    /// The coordinator's list of this node's shared volumes (a heartbeat answer's `sharedVolumes`), and of the peers
    /// whose records it reads (`readPeers`); both kept through an outage.
    public func learn(shared: [String]?, readPeers: [String]? = nil) {
        state.withLock { state in
            if let shared { state.shared = shared }
            if let readPeers { state.readPeers = Set(readPeers.prefix(StorageReaders.maxPeers)) }
        }
    }

    /// What a rescan found: where each volume is mounted, and the HA VMs this node reports with their epochs.
    public func learn(from report: AgentReport) {
        // Only volumes with a directory: a shared source (`rbd:…`) has no file system to hold a record.
        let mounts = Dictionary(
            report.volumes.filter { $0.mountPath.hasPrefix("/") }.map { ($0.id, $0.mountPath) },
            uniquingKeysWith: { first, _ in first }
        )
        let notDirectories = Set(report.volumes.filter { !$0.mountPath.hasPrefix("/") }.map(\.id))
        let vms = report.vms.filter(\.highlyAvailable).map {
            StorageHeartbeat.Entry(
                vm: VMID($0.id),
                epoch: Epoch($0.epoch ?? Epoch.initial.rawValue),
                running: $0.state.value?.holdsMemory ?? true
            )
        }
        let names = Dictionary(report.vms.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        state.withLock {
            $0.mounts = mounts
            $0.notDirectories = notDirectories
            if $0.vms != vms {
                $0.vms = vms
                $0.listVersion += 1
            }
            $0.names = names
        }
    }

    /// What a heartbeat answer says about isolation: the `stop` VMs (when the list changed) and the timeout.
    func learn(isolationStop: [String]?, digest: String?, timeout: Duration?) {
        state.withLock { state in
            if let isolationStop, let digest {
                state.isolationStop = Set(isolationStop)
                state.isolationStopDigest = digest
            }
            if let timeout { state.isolationTimeout = timeout }
        }
    }

    var isolationStopDigest: String? { state.withLock { $0.isolationStopDigest } }
    var isolationTimeout: Duration { state.withLock { $0.isolationTimeout } }

    /// The VMs to stop now for isolation (SPEC §6), marked tried.
    ///
    /// Their response is `stop`, this node's record lists them running, and they were not tried within `retry`.
    func claimIsolationStops(at now: MonotonicTime, retry: Duration) -> [(vm: StorageHeartbeat.Entry, name: String)] {
        state.withLock { state in
            let due = state.vms.filter { entry in
                entry.running && state.isolationStop.contains(entry.vm.rawValue)
                    && state.stopTried[entry.vm].map { now.since($0) >= retry } ?? true
            }
            for entry in due { state.stopTried[entry.vm] = now }
            return due.map { ($0, state.names[$0.vm.rawValue] ?? $0.vm.rawValue) }
        }
    }

    /// The node is no longer isolated: the next isolation starts its stops afresh.
    func isolationEnded() {
        state.withLock { $0.stopTried = [:] }
    }

    /// Whether this node's record lists `vm` running (as its last rescan found it).
    func listsRunning(_ vm: VMID) -> Bool {
        state.withLock { $0.vms.contains { $0.vm == vm && $0.running } }
    }

    /// One round: this node's record (with `condition`) written to every shared volume, then its peers' records read.
    ///
    /// Returns whether every write succeeded, and when the writes ended (`nil`: this node shares no volume with a
    /// directory, the lease rule applies). A shared volume this node does not find mounted counts as a failed write:
    /// peers reading that volume see its record age, so it must not count itself as heard.
    public func round(
        condition: StorageHeartbeat.Condition,
        at now: MonotonicTime
    ) -> (written: Bool, at: MonotonicTime)? {
        let (wanted, roots, slot, list, listWritten) = state.withLock { state in
            state.counter += 1
            let wanted = state.shared.filter { !state.notDirectories.contains($0) }
            let roots = wanted.compactMap { id in state.mounts[id].map { (id, $0) } }
            let slot = StorageHeartbeatRecord.Slot(
                node: node,
                counter: state.counter,
                condition: condition,
                listVersion: state.listVersion
            )
            return (wanted, roots, slot, state.vms, state.listWritten)
        }
        guard !wanted.isEmpty else {
            state.withLock {
                $0.failingSince = [:]
                $0.writtenAt = [:]
            }
            return nil
        }
        let slotBytes = StorageHeartbeatRecord.encode(slot)
        var listBytes: [UInt8]?
        var reached: Set<String> = []
        var listsWritten: [String: UInt64] = [:]
        for (volume, root) in roots {
            // The VM list first, only when this volume does not hold its version: a reader that sees the new slot
            // finds the list it names (or, between the two writes, an older one, which it does not use).
            if listWritten[volume] != slot.listVersion {
                let bytes =
                    listBytes ?? StorageHeartbeatRecord.encodeList(node: node, version: slot.listVersion, vms: list)
                listBytes = bytes
                guard Self.write(bytes, to: root, name: StorageHeartbeatRecord.listFileName(of: node)) else { continue }
                listsWritten[volume] = slot.listVersion
            }
            if Self.write(slotBytes, to: root, name: StorageHeartbeatRecord.fileName(of: node)) {
                reached.insert(volume)
            }
        }
        let written = reached.count == wanted.count
        let writtenAt = AgentService.monotonicNow()
        state.withLock { state in
            state.listWritten.merge(listsWritten) { _, new in new }
            for volume in wanted {
                if reached.contains(volume) {
                    state.writtenAt[volume] = now
                    state.failingSince[volume] = nil
                } else if state.failingSince[volume] == nil {
                    state.failingSince[volume] = state.writtenAt[volume] ?? now
                }
            }
            let kept = Set(wanted)
            state.failingSince = state.failingSince.filter { kept.contains($0.key) }
            state.writtenAt = state.writtenAt.filter { kept.contains($0.key) }
            state.listWritten = state.listWritten.filter { kept.contains($0.key) }
        }
        for (volume, root) in roots { read(volume: volume, root: root, at: AgentService.monotonicNow()) }
        state.withLock { $0.lastRoundWritten = written }
        return (written, writtenAt)
    }

    /// What this agent says with its heartbeat: whether it writes, and its readings (stalest first).
    public func report(at now: MonotonicTime, period: Duration) -> StorageHeartbeatReport? {
        state.withLock { state -> StorageHeartbeatReport? in
            guard !state.shared.isEmpty else { return nil }
            let readings = state.seen.filter { now.since($0.value.readAt) <= period * 2 }
                .sorted { now.since($0.value.since) > now.since($1.value.since) }
                .prefix(StorageHeartbeatReport.maxReadings)
                .map { slot, seen in
                    StorageReadingJSON(
                        node: slot.node,
                        volume: slot.volume,
                        unchangedForMilliseconds: now.since(seen.since).wholeMilliseconds,
                        counter: seen.record?.counter,
                        condition: seen.record?.condition.rawValue,
                        stopped: seen.record.map { record in
                            record.vms.filter { !$0.running }.prefix(StorageHeartbeatReport.maxStoppedPerReading).map {
                                VMEpochJSON(vmId: $0.vm.rawValue, epoch: $0.epoch.rawValue)
                            }
                        }
                    )
                }
            let lost = state.failingSince.sorted { $0.key < $1.key }.prefix(StorageHeartbeatReport.maxLost).map {
                LostVolumeJSON(volume: $0.key, forMilliseconds: now.since($0.value).wholeMilliseconds)
            }
            return StorageHeartbeatReport(
                writes: state.lastRoundWritten,
                readings: Array(readings),
                lost: lost.isEmpty ? nil : Array(lost)
            )
        }
    }

    /// Whether a peer's record, as last read, shows another node running (fresh and `running`).
    func peersRunning(at now: MonotonicTime, leaseTTL: Duration, period: Duration) -> Bool {
        state.withLock { state in
            state.seen.values.contains {
                now.since($0.readAt) <= period * 2 && now.since($0.since) < leaseTTL && $0.record?.condition == .running
            }
        }
    }

    /// Why a failover of `vm` from `source` must wait (SPEC §6 `source-alive`), or `nil`.
    ///
    /// It reads the source's slot on every shared volume this node mounts, now, and refuses while a record is younger than `leaseTTL` on this node's
    /// clock, is not `fenced` and lists the VM running. A record seen for the first time counts as fresh: its age is
    /// not known yet. Blocking I/O: call it on `queue`.
    func sourceAlive(_ source: NodeName, vm: VMID, leaseTTL: Duration, at now: MonotonicTime) -> String? {
        guard source != node else { return nil }
        let roots = state.withLock { state in
            state.shared.compactMap { id in state.mounts[id].map { (id, $0) } }
        }
        for (volume, root) in roots {
            guard let seen = observe(source, volume: volume, root: root, at: now), let record = seen.record else {
                continue
            }
            let age = now.since(seen.since)
            guard age < leaseTTL, record.condition != .fenced else { continue }
            guard seen.listKnown else {
                return """
                    \(source)'s storage heartbeat on volume \(volume) changed \(DurationText.format(age)) ago and its VM \
                    list is being rewritten: the source is alive; it is not adopted here until the list is whole
                    """
            }
            guard let entry = record.vms.first(where: { $0.vm == vm }), entry.running else { continue }
            return """
                \(source)'s storage heartbeat on volume \(volume) changed \(DurationText.format(age)) ago and lists \
                the VM running at epoch \(entry.epoch): the source is alive (isolated, not failed); it is not adopted here
                """
        }
        return nil
    }

    // MARK: - Files

    /// At most this many peers' slots are read per volume and round.
    static let maxSlotsPerVolume = 256

    /// Writes the record whole: a temporary file, flushed, renamed over the slot, the directory flushed; a reader sees
    /// the old record or the new one.
    static func write(_ bytes: [UInt8], to root: String, name: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard root.hasPrefix("/"), FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory),
            isDirectory.boolValue
        else { return false }
        let directory = root + "/" + StorageHeartbeatRecord.directory
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + name
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        var offset = 0
        let ok = bytes.withUnsafeBytes { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            while offset < buffer.count {
                let wrote = Glibc.write(fd, base + offset, buffer.count - offset)
                guard wrote > 0 else { return false }
                offset += wrote
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(temporary, path) == 0 else { return false }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
        return true
    }

    /// Linux's `O_DIRECT`, which Swift's Glibc module does not export (it differs by architecture).
    #if arch(x86_64) || arch(i386)
    static let directFlag: Int32 = 0o40000
    #elseif arch(arm64) || arch(arm)
    static let directFlag: Int32 = 0o200000
    #else
    static let directFlag: Int32 = 0
    #endif

    /// A slot's bytes, at most one more than a record may have (so an oversized file is refused, never read whole).
    ///
    /// Read with `O_DIRECT` where the file system allows it, so that no page cache (an NFS client's above all) hands a
    /// reader an old record and makes a live node look silent; a file system that refuses `O_DIRECT` (tmpfs, some
    /// FUSE) is read through the cache.
    static func readSlot(_ path: String) -> [UInt8]? {
        if directFlag != 0, let bytes = readDirect(path) { return bytes }
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: StorageHeartbeatRecord.maxBytes + 1)).map { Array($0) }
    }

    /// `readSlot` through `O_DIRECT`: an aligned buffer, whole aligned reads until the end of the file; `nil` when the
    /// file cannot be opened that way.
    static func readDirect(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | directFlag)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let alignment = 4096
        // Sized by the file (a slot is a few hundred bytes; files are replaced by rename, never rewritten in place, so
        // the open file keeps its size), at most one byte past the limit.
        let size = lseek(fd, 0, SEEK_END)
        guard size >= 0, lseek(fd, 0, SEEK_SET) == 0 else { return nil }
        let wanted = min(Int(size) + 1, StorageHeartbeatRecord.maxBytes + 1)
        let capacity = (wanted + alignment - 1) / alignment * alignment
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, alignment, capacity) == 0, let buffer = raw else { return nil }
        defer { free(buffer) }
        var filled = 0
        while filled < capacity {
            let count = Glibc.read(fd, buffer + filled, capacity - filled)
            if count < 0, errno == EINTR { continue }
            // EINVAL: the file system does not do direct I/O after all; read it through the cache instead.
            guard count >= 0 else { return nil }
            if count == 0 { break }
            filled += count
            if count % alignment != 0 { break }
        }
        let kept = min(filled, StorageHeartbeatRecord.maxBytes + 1)
        return Array(UnsafeRawBufferPointer(start: buffer, count: kept))
    }

    /// Reads the assigned peers' slots on one volume (every peer's, without an assignment) and notes when each counter
    /// last changed.
    private func read(volume: String, root: String, at now: MonotonicTime) {
        let directory = root + "/" + StorageHeartbeatRecord.directory
        let names: [String]
        if let peers = state.withLock({ $0.readPeers }) {
            // By name: no directory listing, whatever the number of nodes on the volume.
            names = peers.map { StorageHeartbeatRecord.fileName(of: NodeName($0)) }
        } else {
            guard let listed = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
            names = listed
        }
        let own = StorageHeartbeatRecord.fileName(of: node)
        for name in names.sorted().prefix(Self.maxSlotsPerVolume) where name.hasSuffix(".hb") && name != own {
            guard name.hasPrefix("node-"), let peer = name.dropFirst(5).dropLast(3).removingPercentEncoding else {
                continue
            }
            _ = observe(NodeName(peer), volume: volume, root: root, at: now)
        }
    }

    /// Reads `peer`'s slot on one volume (and its VM list when the slot names a version not held), notes when its
    /// counter last changed, and returns what is known of it; `nil` when the slot holds no whole record.
    private func observe(_ peer: NodeName, volume: String, root: String, at now: MonotonicTime) -> Seen? {
        let directory = root + "/" + StorageHeartbeatRecord.directory
        let name = StorageHeartbeatRecord.fileName(of: peer)
        guard let bytes = Self.readSlot(directory + "/" + name),
            let slot = StorageHeartbeatRecord.decodeSlot(bytes, fileName: name)
        else { return nil }
        let key = Slot(node: peer.rawValue, volume: volume)
        var list = state.withLock { $0.seen[key]?.list }
        if list?.version != slot.listVersion {
            let listName = StorageHeartbeatRecord.listFileName(of: peer)
            if let read = Self.readSlot(directory + "/" + listName).flatMap({
                StorageHeartbeatRecord.decodeList($0, fileName: listName)
            }) {
                list = (read.version, read.vms)
            }
        }
        let record = StorageHeartbeatRecord.record(slot, list: list)
        let listKnown = list?.version == slot.listVersion
        return state.withLock { state -> Seen in
            if var before = state.seen[key], before.counter == slot.counter {
                before.readAt = now
                before.record = record
                before.list = list
                before.listKnown = listKnown
                state.seen[key] = before
                return before
            }
            let fresh = Seen(
                counter: slot.counter,
                since: now,
                readAt: now,
                record: record,
                list: list,
                listKnown: listKnown
            )
            state.seen[key] = fresh
            return fresh
        }
    }
}
