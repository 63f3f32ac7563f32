import Agent
import DiskAccess
import Foundation

/// The demo's cluster on disk: a shared volume every node lists, a local volume per node, and five VMs whose chains
/// our writer makes (two of them stranded).
///
/// The daemons run deploy/examples' configs as shipped, with only what must differ on one machine overridden by
/// `CHAINKEEPERD_*` variables (`environment(coordinator:)`, `environment(agent:)`): the demo is also the test that
/// those files work.
struct DemoCluster {
    let root: String
    let port: Int
    let token: String
    /// deploy/examples (or where install.sh put them).
    let examples: String
    /// This `chainkeeper` binary: the agents' hooks run its `demo hypervisor`.
    let cli: String
    /// The nodes of deploy/examples/coordinator.yaml's `agentTokens`, with their tokens.
    static let nodes = ["node1", "node2", "node3"]
    static func agentToken(_ node: String) -> String { "change-me-\(node)-token" }

    var shared: String { root + "/volumes/csv1" }
    func local(_ node: String) -> String { root + "/volumes/\(node)-local" }
    var url: String { "http://127.0.0.1:\(port)" }
    var coordinatorConfig: String { examples + "/coordinator.yaml" }
    var agentConfig: String { examples + "/agent.yaml" }
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

        // web01 on node1: two checkpoints, every disk and memory file on csv1. It can go anywhere.
        inventories["node1", default: []].append(
            try vm(
                "web01",
                disks: ["base.vhdx", "before-patch.avhdx", "after-patch.avhdx", "web01.avhdx"].map { "web01/\($0)" },
                checkpoints: [("before-patch", "web01/before-patch.vmrs"), ("after-patch", "web01/after-patch.vmrs")]
            )
        )
        // db01 on node1: its checkpoint's memory file was saved to node1's local disk. Stranded.
        inventories["node1", default: []].append(
            try vm(
                "db01",
                disks: ["db01/base.vhdx", "db01/db01.avhdx"],
                checkpoints: [("before-upgrade", local("node1") + "/db01/before-upgrade.vmrs")]
            )
        )
        // app01 on node2: one checkpoint, all on csv1.
        inventories["node2", default: []].append(
            try vm("app01", disks: ["app01/base.vhdx", "app01/app01.avhdx"], checkpoints: [("nightly", nil)])
        )
        // mail01 on node3: all on csv1; it fails over when node3 dies.
        inventories["node3", default: []].append(
            try vm("mail01", disks: ["mail01/base.vhdx", "mail01/mail01.avhdx"], checkpoints: [("monday", nil)])
        )
        // build01 on node3: the middle differencing disk of its chain sits on node3's local disk. Stranded.
        inventories["node3", default: []].append(
            try vm(
                "build01",
                disks: ["build01/base.vhdx", local("node3") + "/build01/toolchain.avhdx", "build01/build01.avhdx"],
                checkpoints: [("clean", nil), ("toolchain", nil)]
            )
        )
        for node in Self.nodes {
            let document: [String: Any] = ["version": 1, "vms": inventories[node] ?? []]
            try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
                .write(to: URL(fileURLWithPath: inventory(node)), options: .atomic)
        }
        for node in Self.nodes { try writeStartScript(node) }
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

    /// deploy/examples/coordinator.yaml as shipped, but on a free loopback port, with a data directory here, a fresh
    /// admin token, and no fence command (each node's watchdog fences it; lease expiry then counts as fenced).
    var coordinatorEnvironment: [String: String] {
        [
            "CHAINKEEPERD_LISTEN": "127.0.0.1:\(port)", "CHAINKEEPERD_DATA_DIR": root + "/coordinator",
            "CHAINKEEPERD_ADMIN_TOKENS": token, "CHAINKEEPERD_FENCE_COMMAND": "",
        ]
    }

    /// deploy/examples/agent.yaml as shipped, but for `node`: its token from the example coordinator config, its
    /// volumes and inventory here, quick heartbeats and rescans, and hooks that run the stand-in hypervisor.
    func agentEnvironment(_ node: String) -> [String: String] {
        let hook = "'\(cli)' demo hypervisor --root '\(root)'"
        return [
            "CHAINKEEPERD_NODE": node, "CHAINKEEPERD_TOKEN": Self.agentToken(node), "CHAINKEEPERD_COORDINATOR": url,
            "CHAINKEEPERD_DATA_DIR": root + "/\(node)", "CHAINKEEPERD_VOLUMES": shared + "," + local(node),
            "CHAINKEEPERD_INVENTORY_PATH": inventory(node), "CHAINKEEPERD_HEARTBEAT": "500ms",
            "CHAINKEEPERD_RESCAN": "1s", "CHAINKEEPERD_HOOK_RELEASE": hook, "CHAINKEEPERD_HOOK_ADOPT": hook,
            "CHAINKEEPERD_HOOK_FENCE": hook,
        ]
    }

    func startScript(_ node: String) -> String { root + "/start-\(node).sh" }

    /// A script that starts `node`'s agent again by hand (after the demo killed node3's, for instance).
    private func writeStartScript(_ node: String) throws {
        let exports = agentEnvironment(node).sorted { $0.key < $1.key }.map {
            "export \($0.key)=\(Self.quoted($0.value))"
        }
        let daemon = (cli as NSString).deletingLastPathComponent + "/chainkeeperd"
        let text =
            (["#!/bin/sh", "# Starts \(node)'s agent of the demo cluster."] + exports + [
                "exec \(Self.quoted(daemon)) agent --config \(Self.quoted(agentConfig))"
            ]).joined(separator: "\n") + "\n"
        try text.write(toFile: startScript(node), atomically: true, encoding: .utf8)
        chmod(startScript(node), 0o755)
    }

    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// deploy/examples: `--examples`, else the first `deploy/examples` found from the working directory or this
    /// binary's directory upwards, else where deploy/install.sh puts them.
    static func findExamples(_ given: String?, cli: String) throws -> String {
        func holds(_ directory: String) -> Bool {
            FileManager.default.fileExists(atPath: directory + "/coordinator.yaml")
                && FileManager.default.fileExists(atPath: directory + "/agent.yaml")
        }
        if let given {
            guard holds(given) else { throw DemoError("\(given) holds no coordinator.yaml and agent.yaml") }
            return given
        }
        for start in [FileManager.default.currentDirectoryPath, (cli as NSString).deletingLastPathComponent] {
            var directory = URL(fileURLWithPath: start)
            while directory.path != "/" {
                let candidate = directory.appendingPathComponent("deploy/examples").path
                if holds(candidate) { return candidate }
                directory = directory.deletingLastPathComponent()
            }
        }
        if holds("/usr/share/doc/chainkeeper") { return "/usr/share/doc/chainkeeper" }
        throw DemoError("cannot find deploy/examples (the configs the demo runs); give --examples DIR")
    }
}

struct DemoError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
