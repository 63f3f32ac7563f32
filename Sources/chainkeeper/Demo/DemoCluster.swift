import Agent
import DiskAccess
import Foundation

/// The demo's cluster on disk: a shared volume every node lists, a local volume per node, five VMs whose chains our
/// writer makes (two of them stranded), and the configuration of a coordinator and three agents.
struct DemoCluster {
    let root: String
    let port: Int
    let token: String
    let lease: String
    /// This `chainkeeper` binary: the agents' hooks run its `demo hypervisor`.
    let cli: String
    static let nodes = ["a", "b", "c"]

    var shared: String { root + "/volumes/csv1" }
    func local(_ node: String) -> String { root + "/volumes/\(node)-local" }
    var url: String { "http://127.0.0.1:\(port)" }
    var coordinatorConfig: String { root + "/coordinator.yaml" }
    func agentConfig(_ node: String) -> String { root + "/agent-\(node).yaml" }
    func inventory(_ node: String) -> String { root + "/inventory-\(node).json" }

    /// Writes volumes, disks, inventories and configs.
    func write() throws {
        let manager = FileManager.default
        for directory in [shared] + Self.nodes.map(local) {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        _ = try VolumeMarker(id: UUID().uuidString.lowercased(), name: "csv1").write(into: shared)
        for node in Self.nodes {
            _ = try VolumeMarker(id: UUID().uuidString.lowercased(), name: "\(node)-local").write(into: local(node))
        }
        var inventories: [String: [[String: Any]]] = [:]

        // web01 on a: two checkpoints, every disk and memory file on csv1. It can go anywhere.
        inventories["a", default: []].append(
            try vm(
                "web01",
                disks: ["base.vhdx", "before-patch.avhdx", "after-patch.avhdx", "web01.avhdx"].map { "web01/\($0)" },
                checkpoints: [("before-patch", "web01/before-patch.vmrs"), ("after-patch", "web01/after-patch.vmrs")]
            )
        )
        // db01 on a: its checkpoint's memory file was saved to a's local disk. Stranded.
        inventories["a", default: []].append(
            try vm(
                "db01",
                disks: ["db01/base.vhdx", "db01/db01.avhdx"],
                checkpoints: [("before-upgrade", local("a") + "/db01/before-upgrade.vmrs")]
            )
        )
        // app01 on b: one checkpoint, all on csv1.
        inventories["b", default: []].append(
            try vm("app01", disks: ["app01/base.vhdx", "app01/app01.avhdx"], checkpoints: [("nightly", nil)])
        )
        // mail01 on c: all on csv1; it fails over when c dies.
        inventories["c", default: []].append(
            try vm("mail01", disks: ["mail01/base.vhdx", "mail01/mail01.avhdx"], checkpoints: [("monday", nil)])
        )
        // build01 on c: the middle differencing disk of its chain sits on c's local disk. Stranded.
        inventories["c", default: []].append(
            try vm(
                "build01",
                disks: ["build01/base.vhdx", local("c") + "/build01/toolchain.avhdx", "build01/build01.avhdx"],
                checkpoints: [("clean", nil), ("toolchain", nil)]
            )
        )
        for node in Self.nodes {
            let document: [String: Any] = ["version": 1, "vms": inventories[node] ?? []]
            try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
                .write(to: URL(fileURLWithPath: inventory(node)), options: .atomic)
        }
        try writeConfigs()
    }

    /// A `hyperv-json` VM: `disks` is its chain base first (paths relative to csv1 unless absolute); checkpoint `i`
    /// captured disks `0...i` and, when given, a memory file.
    private func vm(
        _ name: String,
        disks: [String],
        checkpoints: [(name: String, memory: String?)]
    ) throws -> [String:
        Any]
    {
        func path(_ relative: String) -> String { relative.hasPrefix("/") ? relative : shared + "/" + relative }
        let chain = disks.map(path)
        for file in chain {
            try FileManager.default.createDirectory(
                atPath: (file as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true
            )
        }
        _ = try DiskFixtures.vhdxChain(paths: chain)
        let configuration = shared + "/\(name)/Virtual Machines/\(name).vmcx"
        try touch(configuration, bytes: 32 * 1024)
        var snapshots: [[String: Any]] = []
        for (index, checkpoint) in checkpoints.enumerated() {
            var snapshot: [String: Any] = [
                "id": "\(name)-\(checkpoint.name)", "name": checkpoint.name,
                "created": "2026-11-2\(index + 1)T09:00:00Z", "disks": [chain[index]],
                "parentId": index == 0 ? NSNull() : "\(name)-\(checkpoints[index - 1].name)" as Any,
            ]
            if let memory = checkpoint.memory {
                try touch(path(memory), bytes: 256 * 1024)
                snapshot["memoryPath"] = path(memory)
            }
            snapshots.append(snapshot)
        }
        return [
            "id": UUID().uuidString.lowercased(), "name": name, "state": "Running", "highlyAvailable": true,
            "memoryMiB": 4096, "configurationPath": configuration, "disks": [chain.last ?? ""],
            "snapshots": snapshots,
        ]
    }

    private func touch(_ path: String, bytes: Int) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true
        )
        guard FileManager.default.createFile(atPath: path, contents: Data(count: bytes)) else {
            throw DemoError("cannot write \(path)")
        }
    }

    private func writeConfigs() throws {
        let agentTokens = Self.nodes.map { "\($0): demo-agent-\($0)-\(token.prefix(12))" }.joined(separator: ", ")
        try """
        # The demo's coordinator: the embedded default (SQLite in dataDir), on loopback, with a short lease so the
        # failover happens while you watch. deploy/examples/coordinator.yaml explains every key.
        listen: "127.0.0.1:\(port)"
        dataDir: \(root)/coordinator
        adminTokens: [\(token)]
        agentTokens: {\(agentTokens)}
        leaseTTL: \(lease)
        commandTimeout: 10s
        """.write(toFile: coordinatorConfig, atomically: true, encoding: .utf8)
        for node in Self.nodes {
            // The hooks stand in for Hyper-V: `chainkeeper demo hypervisor` moves the VM between the inventories and
            // writes what it did to hypervisor.log.
            let hook = "\"'\(cli)' demo hypervisor --root '\(root)'\""
            try """
            # Node \(node) of the demo. deploy/examples/agent.yaml explains every key.
            node: \(node)
            coordinator: \(url)
            token: demo-agent-\(node)-\(token.prefix(12))
            dataDir: \(root)/agent-\(node)
            volumes: [\(shared), \(local(node))]
            inventory: {driver: hyperv-json, path: \(inventory(node))}
            heartbeat: 500ms
            rescan: 1s
            memoryMiB: 65536
            hooks: {release: \(hook), adopt: \(hook), fence: \(hook)}
            """.write(toFile: agentConfig(node), atomically: true, encoding: .utf8)
        }
    }
}

struct DemoError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
