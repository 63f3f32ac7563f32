import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import DiskFormatsTesting
import Foundation
import GRDB
import Synchronization
import Testing

@testable import Coordinator

/// Issue 27: the maintained audit (facts per VM, VMs read in full only when they may carry a risk) equals the full
/// audit over a snapshot of every VM, on randomized clusters in a real SQLite file, at the start and after every kind
/// of change the audit reads: a report, a renamed or new VM, a policy, a node state, a probe, the clock passing a
/// probe window, a committed move, listings, a failover block and its clearing, discovered disks, a lost volume.
@Suite struct MaintainedAuditTests {
    // One seed at a time, each on a thread of its own: every seed commits a few hundred transactions at
    // synchronous=FULL, and blocking the two cooperative threads for seconds starved the suite's lease-timed tests.
    @Test(.serialized, arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func theMaintainedAuditEqualsTheFullAuditAfterEveryKindOfChange(seed: UInt64) async throws {
        let outcome = Mutex<(differences: [String], codes: Set<RiskCode>)>(([], []))
        try await OwnThread.run {
            let result = try Self.compareAfterEveryKindOfChange(seed: seed)
            outcome.withLock { $0 = result }
        }
        let (differences, codes) = outcome.withLock { $0 }
        #expect(differences.isEmpty, "seed \(seed):\n\(differences.joined(separator: "\n"))")
        // The comparisons were about something: the randomized clusters carried risks of many kinds.
        #expect(codes.count >= 8, "\(codes.map(\.rawValue).sorted())")
    }

    /// Compares the two audits at the start and after each change; returns every difference found (with the first
    /// differing risk of each step) and the risk codes seen.
    static func compareAfterEveryKindOfChange(seed: UInt64) throws -> (differences: [String], codes: Set<RiskCode>) {
        let cluster = try RandomCluster(seed: seed)
        defer { try? FileManager.default.removeItem(atPath: cluster.directory) }
        var codes = Set<RiskCode>()
        var differences: [String] = []
        func compare(_ step: String) throws {
            let maintained = try cluster.coordinator.audit()
            var (view, input) = try cluster.coordinator.auditSnapshot()
            // The same moment for both: a lost volume's duration grows between two reads.
            input.lostVolumes = maintained.lost
            view.now = maintained.view.now
            let full = ClusterAudit.risks(in: view, input)
            codes.formUnion(full.map(\.code))
            if maintained.risks != full {
                let first = zip(maintained.risks, full).first { $0.0 != $0.1 }
                differences.append(
                    "\(step): \(maintained.risks.count) risks maintained, \(full.count) in full; first difference: "
                        + (first.map { "maintained \($0.0) / full \($0.1)" } ?? "one list is longer")
                )
            }
            let summaries = Coordinator.vmSummaries(view, input, risks: full).sorted {
                ($0.name, $0.id) < ($1.name, $1.id)
            }
            if Coordinator.vmSummaries(maintained) != summaries {
                differences.append("\(step): the vms summaries differ")
            }
        }
        try compare("the cluster as built")
        // Every kind of change twice, in an order of the seed's choosing.
        var changes = RandomCluster.Change.allCases + RandomCluster.Change.allCases
        changes.shuffle(using: &cluster.random.generator)
        for (round, change) in changes.enumerated() {
            try cluster.apply(change)
            try compare("round \(round), after \(change)")
        }
        return (differences, codes)
    }
}

/// Runs blocking work on a thread of its own, off Swift's cooperative pool (two threads on a 2-core machine).
enum OwnThread {
    static func run(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                do {
                    try body()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }
}

/// A small cluster with something of every risk, built at random from a seed, and changes made to it.
final class RandomCluster {
    enum Change: CaseIterable {
        case report, rename, newVM, policy, nodeState, probe, clock, commit, listings, block, clear, disks, lostVolume
        case deleted
    }

    final class Random {
        var generator: SplitMix64
        init(_ seed: UInt64) { generator = SplitMix64(seed: seed) }
        func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &generator) }
        func chance(_ percent: Int) -> Bool { int(0..<100) < percent }
        func pick<T>(_ items: [T]) -> T { items[int(0..<items.count)] }
    }

    let directory: String
    let coordinator: Coordinator
    let random: Random
    let clock: ManualClock
    let nodes = (1...5).map { NodeName("node\($0)") }
    let shared = [VolumeID("csv1"), VolumeID("csv2")]
    private var vmCount = 0
    private var vms: [VMID: VM] = [:]

    var now: Timestamp { clock.now }
    var store: ClusterStore { coordinator.store }

    init(seed: UInt64) throws {
        random = Random(seed)
        let start = Timestamp(secondsSinceEpoch: 1_900_000_000)
        let clock = ManualClock(start)
        self.clock = clock
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ck-audit-\(UUID().uuidString)").path
        var config = CoordinatorConfig(dataDir: directory)
        config.maxChainDepth = 4
        config.probeInterval = .seconds(60)
        config.inventoryMaxAge = .seconds(600)
        config.storageLossTimeout = .seconds(1)
        coordinator = try Coordinator(config: config, now: { clock.now })
        for node in nodes {
            try store.saveNode(
                Node(
                    name: node,
                    driver: random.chance(70) ? .hypervJSON : .libvirt,
                    memoryMiB: 65_536,
                    lastInventoryAt: random.chance(90) ? now : nil
                ),
                at: now
            )
            try store.saveVolume(Volume(id: local(node), name: "\(node)-local"), at: now)
            try store.saveMount(
                VolumeMount(volume: local(node), node: node, mountPath: "/srv", lastProbeAt: now),
                at: now
            )
        }
        // Most VMs start clean (every node reaches csv1, csv2 perhaps all but one), so that a change which should
        // make a clean VM a suspect is noticed; changes then age probes and make some fail.
        let unmounted = random.chance(50) ? random.pick(nodes) : nil
        for volume in shared {
            try store.saveVolume(Volume(id: volume, name: volume.rawValue), at: now)
            for node in nodes where !(volume == shared[1] && node == unmounted) {
                try probe(volume, on: node, age: 0)
            }
        }
        for _ in 0..<40 { try addVM() }
        for _ in 0..<8 { try apply(.policy) }
        try apply(.listings)
        try apply(.block)
        try apply(.disks)
        try store.saveInventoryErrors(
            of: nodes[0],
            [InventoryError(node: nodes[0], vm: "broken", message: "unreadable")],
            at: now
        )
    }

    func local(_ node: NodeName) -> VolumeID { VolumeID("local-\(node.rawValue)") }

    /// A probe `age` seconds ago (at random: within 2 × probeInterval, 120 s, or past it).
    private func probe(_ volume: VolumeID, on node: NodeName, age: Int? = nil) throws {
        let age = age ?? random.pick([0, 30, 100, 130, 300])
        try store.saveMount(
            VolumeMount(
                volume: volume,
                node: node,
                mountPath: "/mnt/\(volume.rawValue)",
                lastProbeAt: now - .seconds(age),
                freeBytes: Int64(random.int(1..<100)) << 30,
                totalBytes: 100 << 30
            ),
            at: now
        )
    }

    private func addVM() throws {
        vmCount += 1
        let vm = makeVM(id: VMID("vm-\(vmCount)"), name: "vm\(random.int(0..<30))", owner: random.pick(nodes))
        try store.saveInventory(of: vm, at: now)
        vms[vm.id] = vm
    }

    /// A VM whose files sit mostly on shared volumes, sometimes on its node's local volume or under no volume, a few
    /// with problems, some with deep chains or many checkpoints, some whose next checkpoint would be written locally.
    private func makeVM(id: VMID, name: String, owner: NodeName) -> VM {
        func location(_ path: String) -> FileLocation {
            switch random.int(0..<40) {
            case 0: .nodeLocal(owner, absolutePath: "/var/lib/\(id.rawValue)/\(path)")
            case 1: .volume(local(owner), relativePath: "\(id.rawValue)/\(path)")
            default: .volume(random.pick(shared), relativePath: "\(id.rawValue)/\(path)")
            }
        }
        let checkpointCount = random.chance(10) ? 51 : random.int(0..<4)
        let checkpoints = (0..<checkpointCount).map {
            Checkpoint(
                id: CheckpointID("cp\($0)"),
                name: "checkpoint \($0)",
                parent: $0 == 0 ? nil : CheckpointID("cp\($0 - 1)")
            )
        }
        let depth = random.chance(15) ? 6 : random.int(1..<4)
        var files: [VMFile] = []
        for level in 0..<depth {
            let path = "disk\(level).avhdx"
            files.append(
                VMFile(
                    location: location(path),
                    path: "/mnt/\(path)",
                    kind: .disk,
                    format: .vhdx,
                    size: 4096,
                    checkpoint: level > 0 && level <= checkpointCount ? CheckpointID("cp\(level - 1)") : nil,
                    problem: random.chance(4) ? random.pick(FileProblem.allCases) : nil
                )
            )
        }
        files.append(VMFile(location: location("config.vmcx"), path: "/mnt/config.vmcx", kind: .configuration))
        var vm = VM(
            id: id,
            name: name,
            ownership: Ownership(owner: owner, epoch: .initial),
            state: random.pick([.running, .off, .paused]),
            highlyAvailable: random.chance(85),
            memoryMiB: 1024,
            checkpoints: checkpoints,
            files: files,
            chains: [DiskChain(elements: files.filter { $0.kind == .disk }.map(\.location).reversed())]
        )
        if random.chance(20) {
            // Where the next checkpoint goes need not be where the files are: often the node's own disk.
            let next: FileLocation =
                random.chance(60)
                ? .volume(local(owner), relativePath: "\(id.rawValue)/Snapshots")
                : random.chance(50) ? .nodeLocal(owner, absolutePath: "/snap") : location("Snapshots")
            vm.nextFiles = [
                NextFileLocation(role: random.pick([.checkpoint, .smartPaging]), path: "/snap", location: next)
            ]
        }
        return vm
    }

    func apply(_ change: Change) throws {
        guard let vm = vms.values.sorted(by: { $0.id < $1.id }).randomElement(using: &random.generator) else { return }
        switch change {
        case .report:
            var changed = makeVM(id: vm.id, name: vm.name, owner: vm.owner)
            changed.ownership = vm.ownership
            try store.saveInventory(of: changed, at: now)
            vms[vm.id] = changed
        case .rename:
            var renamed = vm
            renamed.name = "renamed\(random.int(0..<30))"
            try store.saveInventory(of: renamed, at: now)
            vms[vm.id] = renamed
        case .newVM:
            try addVM()
        case .deleted:
            // No release deletes a VM, but a row deleted by hand must leave the audit too, and the new VM after it may
            // be given its row id (the audit reads rows by id after a commit).
            let deleted = try store.writer.write { db -> Bool in
                let journaled = try Int.fetchOne(
                    db,
                    sql: "SELECT count(*) FROM migration WHERE vm_id = ?",
                    arguments: [vm.id.rawValue]
                )
                guard journaled == 0 else { return false }
                try db.execute(sql: "DELETE FROM vm WHERE id = ?", arguments: [vm.id.rawValue])
                return true
            }
            if deleted {
                vms[vm.id] = nil
                try addVM()
            }
        case .policy:
            let possible = nodes.filter { _ in random.chance(50) }
            try store.savePolicy(
                PlacementPolicy(
                    highlyAvailable: random.pick([nil, true, false]),
                    possibleOwners: random.chance(50) ? possible : []
                ),
                for: vm.id
            )
        case .nodeState:
            try store.setNodeState(
                random.pick(nodes),
                to: random.pick([.up, .up, .down, .fenced, .isolated, .quarantined, .draining]),
                because: "test",
                actor: "test",
                at: now
            )
        case .probe:
            try probe(random.pick(shared), on: random.pick(nodes))
        case .clock:
            clock.advance(by: .seconds(45))
        case .commit:
            let target = random.pick(nodes.filter { $0 != vm.owner })
            let record = try store.planMigration(
                vm: vm.id,
                source: vm.owner,
                target: target,
                kind: .migration,
                requestedBy: "test",
                at: now
            )
            for step in [MigrationRecord.State.preflight, .sourceReleased, .targetAdopted] {
                try store.advanceMigration(record.id, to: step, detail: nil, at: now)
            }
            try store.commitMigration(record.id, at: now)
            vms[vm.id]?.ownership = Ownership(owner: target, epoch: record.epoch)
        case .listings:
            let node = random.pick(nodes)
            let foreign = vms.values.filter { $0.owner != node && random.chance(10) }.map(\.id)
            try store.saveListings(of: node, vms: vms.values.filter { $0.owner == node }.map(\.id) + foreign, at: now)
        case .block:
            try store.blockFailover(vm: vm.id, node: vm.owner, summary: "no target passed", reasons: "[]", at: now)
        case .clear:
            let blocked = try store.failoverRecord(since: now).blocked.keys.sorted()
            if let cleared = blocked.first { _ = try store.clearFailover(vm: cleared, actor: "test", at: now) }
        case .disks:
            let node = random.pick(nodes)
            let used = vms.values.flatMap(\.files).compactMap { file -> DiscoveredDisk? in
                guard case .volume(let volume, let path) = file.location, random.chance(5) else { return nil }
                return DiscoveredDisk(volume: volume, relativePath: path, path: "/mnt/\(path)", node: node)
            }
            let orphans = (0..<random.int(0..<3)).map {
                DiscoveredDisk(
                    volume: random.pick(shared),
                    relativePath: "old/\($0).avhdx",
                    path: "/mnt/old",
                    node: node
                )
            }
            try store.recordDiscoveredDisks(of: node, used + orphans, at: now)
        case .lostVolume:
            let node = random.pick(nodes)
            let lost =
                random.chance(70)
                ? [LostVolumeJSON(volume: random.pick(shared).rawValue, forMilliseconds: 7_200_000)] : []
            coordinator.storageLoss.heard(from: node, lost: lost)
        }
    }
}

/// Wall-clock time a test moves by hand.
final class ManualClock: Sendable {
    private let value: Mutex<Timestamp>
    init(_ start: Timestamp) { value = Mutex(start) }
    var now: Timestamp { value.withLock { $0 } }
    func advance(by duration: Duration) { value.withLock { $0 = $0 + duration } }
}
