import Agent
import ChainModel
import ClusterAPI
import ClusterTestSupport
import DiskAccess
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Three real `chainkeeperd agent` processes (`a`, `b`, `c`) and their coordinators, on loopback, over one shared
/// volume: what the latency benchmarks kill with real signals.
///
/// Each node runs one HA VM (`vm-a`, `vm-b`, `vm-c`) whose VHDX chain (our writer) and configuration file sit on the
/// shared volume, so any node may take any VM; each node also has a local volume. The binaries are the ones beside the
/// running benchmark (release, when the benchmark is).
final class LatencyRig: @unchecked Sendable {
    static let adminToken = "bench-admin-token-0123456789"
    static let nodes = ["a", "b", "c"]

    let root: String
    var shared: String { root + "/shared" }
    var agents: [String: DaemonProcess] = [:]
    var coordinators: [String: DaemonProcess] = [:]
    /// Each coordinator's port, by name.
    private(set) var ports: [String: Int] = [:]

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ck-latency-\(UUID().uuidString)").path
        let manager = FileManager.default
        try manager.createDirectory(atPath: shared, withIntermediateDirectories: true)
        _ = try VolumeMarker(id: "22222222-2222-4222-8222-222222222222", name: "shared").write(into: shared)
        for node in Self.nodes {
            let local = root + "/\(node)-local"
            try manager.createDirectory(atPath: local, withIntermediateDirectories: true)
            _ = try VolumeMarker(id: UUID().uuidString.lowercased(), name: "\(node)-local").write(into: local)
            let directory = shared + "/vm-\(node)"
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            _ = try DiskFixtures.vhdxChain(paths: [directory + "/base.vhdx", directory + "/cur.avhdx"])
            guard manager.createFile(atPath: directory + "/vm-\(node).vmcx", contents: Data(count: 4096)) else {
                throw CocoaError(.fileWriteUnknown)
            }
            let vm: [String: Any] = [
                "id": UUID().uuidString.lowercased(), "name": "vm-\(node)", "state": "Running",
                "highlyAvailable": true, "memoryMiB": 1024, "configurationPath": directory + "/vm-\(node).vmcx",
                "disks": [directory + "/cur.avhdx"],
                "snapshots": [
                    [
                        "id": "s-\(node)", "name": "checkpoint", "created": "2026-12-01T10:00:00Z",
                        "disks": [directory + "/base.vhdx"], "parentId": NSNull(),
                    ]
                ],
            ]
            try JSONSerialization.data(withJSONObject: ["version": 1, "vms": [vm]], options: [.sortedKeys])
                .write(to: URL(fileURLWithPath: root + "/inventory-\(node).json"), options: .atomic)
        }
    }

    /// Writes a coordinator's configuration (`extra`: more YAML lines, such as the store) and each agent's, listing
    /// every coordinator written so far.
    func configure(coordinator name: String, leaseTTL: String, extra: String = "") throws {
        let port = Daemons.freePort()
        ports[name] = port
        let tokens = Self.nodes.map { "\($0): token-node-\($0)-000000" }.joined(separator: ", ")
        try """
        listen: "127.0.0.1:\(port)"
        dataDir: \(root)/\(name)
        adminTokens: [\(Self.adminToken)]
        commandTimeout: 8s
        leaseTTL: \(leaseTTL)
        agentTokens: {\(tokens)}
        \(extra)
        """.write(toFile: root + "/\(name).yaml", atomically: true, encoding: .utf8)
        for node in Self.nodes {
            let config: [String: Any] = [
                "node": node, "coordinator": ports.keys.sorted().map { url($0) },
                "token": "token-node-\(node)-000000", "dataDir": root + "/agent-\(node)",
                "volumes": [shared, root + "/\(node)-local"],
                "inventory": ["driver": "hyperv-json", "path": root + "/inventory-\(node).json"],
                "heartbeat": "500ms", "rescan": "1s", "memoryMiB": 65536,
                "hooks": ["release": "true", "adopt": "true"],
            ]
            try JSONSerialization.data(withJSONObject: config).write(
                to: URL(fileURLWithPath: root + "/agent-\(node).json")
            )
        }
    }

    func url(_ name: String) -> String { "http://127.0.0.1:\(ports[name] ?? 0)" }

    func startCoordinator(_ name: String) throws {
        coordinators[name] = try DaemonProcess(
            Daemons.chainkeeperd,
            ["coordinator", "--config", root + "/\(name).yaml"],
            environment: [:],
            logPath: root + "/\(name)-\(UUID().uuidString.prefix(6)).log"
        )
    }

    func startAgents() throws {
        for node in Self.nodes {
            agents[node] = try DaemonProcess(
                Daemons.chainkeeperd,
                ["agent", "--config", root + "/agent-\(node).json"],
                environment: [:],
                logPath: root + "/agent-\(node).log"
            )
        }
    }

    /// An admin request to one coordinator: status and body (nil when nothing answered).
    func request(
        _ name: String,
        _ method: String = "GET",
        _ path: String,
        body: String? = nil
    ) -> (status: Int, body: [UInt8])? {
        var headers = ["Authorization": "Bearer \(Self.adminToken)"]
        if body != nil { headers["Content-Type"] = "application/json" }
        guard
            let answer = Daemons.http(
                method,
                port: ports[name] ?? 0,
                path: path,
                headers: headers,
                body: Array((body ?? "").utf8)
            )
        else { return nil }
        return (answer.status, answer.body)
    }

    func decode<T: Decodable>(_ type: T.Type, from name: String, _ path: String) -> T? {
        guard let answer = request(name, "GET", path), answer.status == 200 else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(answer.body))
    }

    /// Polls every 10 ms until `condition` holds; the seconds since `start` (by default, now), or nil after `seconds`.
    static func poll(
        seconds: Double,
        since start: ContinuousClock.Instant = .now,
        _ condition: () -> Bool
    ) -> Double? {
        while ContinuousClock.now - start < .seconds(seconds) {
            if condition() { return Double((ContinuousClock.now - start).wholeMilliseconds) / 1000 }
            usleep(10_000)
        }
        return nil
    }

    /// Every process stopped, every watchdog told to exit, the directory removed.
    func remove() {
        for agent in agents.values { agent.stop(SIGKILL) }
        for coordinator in coordinators.values {
            kill(coordinator.process.processIdentifier, SIGCONT)
            coordinator.stop(SIGKILL)
        }
        for node in Self.nodes {
            try? "exit\n".write(toFile: root + "/agent-\(node)/watchdog.feed", atomically: true, encoding: .utf8)
        }
        usleep(300_000)
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// Minimum, median and maximum of a list of seconds, for one printed line.
func spread(_ values: [Double]) -> String {
    guard !values.isEmpty else { return "no run finished" }
    let sorted = values.sorted()
    let format = { (value: Double) in String(format: "%.2f s", value) }
    return
        "min \(format(sorted[0])), median \(format(sorted[sorted.count / 2])), max \(format(sorted[sorted.count - 1]))"
        + " (\(values.count) runs)"
}
