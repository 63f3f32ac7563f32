import AgentService
import ArgumentParser
import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation

/// Storage heartbeats at SPEC §9's largest scale (issue 22): 640 nodes on one shared volume, 125 HA VMs each.
///
/// Times what one agent does every `leaseTTL / 5` (its round: the slot written whole with fsync and rename, then its
/// assigned peers' slots read with `O_DIRECT`), against reading every peer, and a round in which its VM list changed.
/// The volume is a directory on the file system given (`--dir`; the machine's disk by default, as a SAN file system
/// or NFS export would be on a real cluster).
struct StorageHeartbeatBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage-heartbeat",
        abstract: "Time storage heartbeat rounds of 640 nodes on one shared volume."
    )

    @Option(help: "Nodes on the volume.") var nodes = 640
    @Option(name: .customLong("vms-per-node"), help: "HA VMs each node lists.") var vmsPerNode = 125
    @Option(help: "Rounds to time per case.") var rounds = 200
    @Option(help: "Directory to put the volume in (default: a temporary directory).") var dir: String?

    func run() throws {
        let base = dir ?? FileManager.default.temporaryDirectory.path
        let root = base + "/chainkeeper-storage-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let names = (0..<nodes).map { NodeName("node\($0)") }
        let ring = StorageReaders.assign(reach: [VolumeID("csv1"): Set(names)], lapsing: [])
        var now = MonotonicTime(milliseconds: 1_000)
        // Every node writes its slot and VM list once.
        var heartbeats: [StorageHeartbeats] = []
        let setup = ContinuousClock.now
        for (index, name) in names.enumerated() {
            let heartbeat = StorageHeartbeats(node: name)
            heartbeat.learn(shared: ["csv1"], readPeers: [])
            heartbeat.learn(from: Self.report(name, root: root, vms: vmsPerNode, first: index * vmsPerNode))
            _ = heartbeat.round(condition: .running, at: now)
            heartbeats.append(heartbeat)
        }
        print("setup: \(nodes) nodes wrote slot and list in \(Self.format(ContinuousClock.now - setup))")
        let listBytes =
            (try? FileManager.default.attributesOfItem(
                atPath: root + "/" + StorageHeartbeatRecord.directory + "/"
                    + StorageHeartbeatRecord.listFileName(of: names[0])
            )[.size] as? Int) ?? 0
        print("a VM list of \(vmsPerNode) VMs: \(listBytes) bytes; a slot: under 200 bytes")

        let me = StorageHeartbeats(node: names[0])
        me.learn(shared: ["csv1"], readPeers: ring[names[0]]?.map(\.rawValue) ?? [])
        me.learn(from: Self.report(names[0], root: root, vms: vmsPerNode, first: 0))
        var samples: [Duration] = []
        for _ in 0..<rounds {
            now = now + .seconds(2)
            let start = ContinuousClock.now
            _ = me.round(condition: .running, at: now)
            samples.append(ContinuousClock.now - start)
        }
        Self.show("round, ring readers (\(ring[names[0]]?.count ?? 0) peers)", samples)

        let everyone = StorageHeartbeats(node: names[1])
        everyone.learn(shared: ["csv1"])
        everyone.learn(from: Self.report(names[1], root: root, vms: vmsPerNode, first: vmsPerNode))
        samples = []
        for _ in 0..<min(rounds, 50) {
            now = now + .seconds(2)
            let start = ContinuousClock.now
            _ = everyone.round(condition: .running, at: now)
            samples.append(ContinuousClock.now - start)
        }
        Self.show("round, reading every peer (at most 256 a volume)", samples)

        samples = []
        for round in 0..<min(rounds, 50) {
            // One VM stops or starts each round: the list is rewritten too.
            me.learn(from: Self.report(names[0], root: root, vms: vmsPerNode, first: 0, stopped: round % vmsPerNode))
            now = now + .seconds(2)
            let start = ContinuousClock.now
            _ = me.round(condition: .running, at: now)
            samples.append(ContinuousClock.now - start)
        }
        Self.show("round whose VM list changed, ring readers", samples)
    }

    static func report(_ node: NodeName, root: String, vms: Int, first: Int, stopped: Int? = nil) -> AgentReport {
        AgentReport(
            node: node.rawValue,
            driver: "hyperv-json",
            volumes: [ReportedVolume(id: "csv1", name: "csv1", mountPath: root)],
            vms: (0..<vms).map { index in
                ReportedVM(
                    id: "vm-\(first + index)-0000-4000-8000-000000000000",
                    name: "vm\(first + index)",
                    state: index == stopped ? "Off" : "Running",
                    highlyAvailable: true,
                    memoryMiB: 4096
                )
            }
        )
    }

    static func format(_ duration: Duration) -> String {
        String(
            format: "%.2f ms",
            Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000
        )
    }

    static func show(_ what: String, _ samples: [Duration]) {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return }
        let p50 = sorted[sorted.count / 2]
        let p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
        Swift.print("\(what): p50 \(format(p50)), p99 \(format(p99)), max \(format(sorted[sorted.count - 1]))")
    }
}
