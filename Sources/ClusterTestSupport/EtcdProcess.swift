import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real etcd member (Debian's `etcd-server`) on loopback ports in a temporary directory, for the etcd backend's tests.
///
/// Stopped with SIGKILL: etcd 3.4 hands leadership over on SIGTERM, which would hide what a crash does.
public final class EtcdProcess: @unchecked Sendable {
    public static let executable = "/usr/bin/etcd"
    public let name: String
    public let clientURL: String
    public let peerURL: String
    public let directory: String
    private var process: DaemonProcess
    private let arguments: [String]

    /// Starts one member of `cluster` (`name=peerURL` pairs; a single member when nil) and waits until it answers.
    public init(
        name: String = "n1",
        clientPort: Int = Daemons.freePort(),
        peerPort: Int = Daemons.freePort(),
        cluster: String? = nil
    ) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw CocoaError(
                .executableNotLoadable,
                userInfo: [
                    NSLocalizedDescriptionKey:
                        "\(Self.executable) is missing: run scripts/test, which installs etcd-server"
                ]
            )
        }
        self.name = name
        clientURL = "http://127.0.0.1:\(clientPort)"
        peerURL = "http://127.0.0.1:\(peerPort)"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ck-etcd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        arguments = [
            "--name", name, "--data-dir", directory + "/data", "--listen-client-urls", clientURL,
            "--advertise-client-urls", clientURL, "--listen-peer-urls", peerURL,
            "--initial-advertise-peer-urls", peerURL, "--initial-cluster", cluster ?? "\(name)=\(peerURL)",
            "--initial-cluster-state", "new", "--heartbeat-interval", "50", "--election-timeout", "500",
        ]
        process = try DaemonProcess(Self.executable, arguments, environment: [:], logPath: directory + "/etcd.log")
        if cluster == nil { try waitUntilServing() }
    }

    /// Waits (up to 15 s) until the member answers `/version`.
    public func waitUntilServing() throws {
        for _ in 0..<150 {
            if Daemons.httpGet(port: clientPort, path: "/version") != nil { return }
            usleep(100_000)
        }
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "etcd did not start: \(process.log)"])
    }

    /// SIGKILL, as a crash.
    public func kill() { process.stop(SIGKILL) }

    /// Starts the member again on its data directory (after `kill`), as an operator's restart would.
    public func restart() throws {
        process.stop(SIGKILL)
        process = try DaemonProcess(
            Self.executable,
            arguments,
            environment: [:],
            logPath: directory + "/etcd-\(UUID().uuidString.prefix(6)).log"
        )
    }

    public var clientPort: Int { Int(clientURL.split(separator: ":").last ?? "") ?? 0 }

    /// Whether this member is the raft leader now (nil when it does not answer).
    public func isLeader() -> Bool? {
        guard
            let answer = Daemons.http("POST", port: clientPort, path: "/v3/maintenance/status", body: Array("{}".utf8)),
            answer.status == 200,
            let object = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any],
            let header = object["header"] as? [String: Any], let member = header["member_id"] as? String,
            let leader = object["leader"] as? String
        else { return nil }
        return member == leader
    }

    deinit {
        process.stop(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Three (or `size`) etcd members on loopback forming one cluster, as the etcd backend's process tests need.
public final class EtcdCluster: @unchecked Sendable {
    public let members: [EtcdProcess]

    public init(size: Int = 3) throws {
        let ports = (0..<size).map { _ in (Daemons.freePort(), Daemons.freePort()) }
        let cluster = ports.enumerated().map { "m\($0.offset)=http://127.0.0.1:\($0.element.1)" }.joined(separator: ",")
        members = try ports.enumerated().map {
            try EtcdProcess(name: "m\($0.offset)", clientPort: $0.element.0, peerPort: $0.element.1, cluster: cluster)
        }
        for member in members { try member.waitUntilServing() }
    }

    public var endpoints: [String] { members.map(\.clientURL) }

    /// The member that leads now (waits up to 10 s for an election).
    public func leader() throws -> EtcdProcess {
        for _ in 0..<100 {
            if let leader = members.first(where: { $0.isLeader() == true }) { return leader }
            usleep(100_000)
        }
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "no etcd member leads"])
    }
}
