import ChainModel
import ClusterAPI
import Coordinator
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOFoundationCompat
import Testing

/// A coordinator on a real SQLite file and real HTTP on loopback, fed by three agents' reports.
struct LiveCoordinator {
    static let adminToken = "admin-secret-token"
    static func agentToken(_ node: String) -> String { "agent-\(node)-token" }
    static let nodes = ["node1", "node2", "node3"]
    static let csv1 = "6f0e3c1e-0000-4000-8000-00000000c5v1"

    let directory: String
    let coordinator: Coordinator

    /// A coordinator on `directory` (a new temporary one by default: a database that knows no VM, so ownership may be
    /// rebuilt from reports during its first lease).
    init(
        directory: String? = nil,
        maxBodyBytes: Int = 1 << 20,
        configure: (inout CoordinatorConfig) -> Void = { _ in }
    ) throws {
        let directory =
            directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("chainkeeper-coord-\(UUID().uuidString)")
            .path
        self.directory = directory
        var config = CoordinatorConfig(dataDir: directory)
        config.listenPort = 0
        config.adminTokens = [Self.adminToken]
        config.agentTokens = Dictionary(uniqueKeysWithValues: Self.nodes.map { ($0, [Self.agentToken($0)]) })
        config.maxBodyBytes = maxBodyBytes
        configure(&config)
        coordinator = try Coordinator(config: config)
    }

    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        try await coordinator.application(logger: logger).test(.live) { client in try await body(client) }
    }

    /// A VM whose files all sit on csv1 unless `local` names a file index to put on the node's
    /// local volume; `missing` marks one file missing.
    static func vm(_ name: String, node: String, local: Int? = nil, missing: Int? = nil) -> ReportedVM {
        let paths = [
            "\(name)/config.vmcx", "\(name)/disk_b.avhdx", "\(name)/disk_a.avhdx", "\(name)/disk.vhdx",
            "\(name)/Snapshots/cp.vmrs",
        ]
        let kinds: [Reported<FileKind>] = ["configuration", "disk", "disk", "disk", "memory"]
        let files = paths.enumerated().map { index, path in
            let onLocal = index == local
            return ReportedFile(
                path: onLocal ? "/srv/local/\(path)" : "/mnt/csv1/\(path)",
                volumeId: onLocal ? "local-\(node)" : csv1,
                relativePath: path,
                kind: kinds[index],
                format: kinds[index] == "disk" ? "vhdx" : nil,
                size: 4096,
                checkpointId: index >= 3 ? "cp" : nil,
                problem: index == missing ? "file-missing" : nil
            )
        }
        return ReportedVM(
            id: "\(name)-id",
            name: name,
            state: "Running",
            highlyAvailable: true,
            memoryMiB: 1024,
            checkpoints: [ReportedCheckpoint(id: "cp", name: "before-upgrade")],
            files: files,
            chains: [ReportedChain(files: [1, 2, 3])]
        )
    }

    /// A report from `node`: csv1 and its local volume, the probe nonces it wrote and read.
    static func report(_ node: String, vms: [ReportedVM], read: [String]) -> AgentReport {
        AgentReport(
            node: node,
            driver: "hyperv-json",
            memoryMiB: 16_384,
            volumes: [
                ReportedVolume(
                    id: csv1,
                    name: "csv1",
                    mountPath: node == "node3" ? "/cluster/csv" : "/mnt/csv1",
                    filesystemType: "nfs4",
                    probeWritten: "nonce-csv1-\(node)",
                    probeRead: read.map { "nonce-csv1-\($0)" }
                ),
                ReportedVolume(
                    id: "local-\(node)",
                    name: "\(node)-local",
                    mountPath: "/srv/local",
                    filesystemType: "ext4",
                    probeWritten: "nonce-local-\(node)",
                    probeRead: read.contains(node) ? ["nonce-local-\(node)"] : []
                ),
            ],
            vms: vms
        )
    }

    static func post(
        _ report: AgentReport,
        as token: String,
        to node: String? = nil,
        client: some TestClientProtocol
    ) async throws -> TestResponse {
        let body = try JSONEncoder().encode(report)
        return try await client.execute(
            uri: "/v1/agents/\(node ?? report.node)/report",
            method: .post,
            headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
            body: ByteBuffer(bytes: body)
        )
    }

    static func get(
        _ uri: String,
        token: String? = adminToken,
        client: some TestClientProtocol
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: .get, headers: headers)
    }

    static func json(_ response: TestResponse) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(buffer: response.body))
    }
}
