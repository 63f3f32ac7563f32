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
    let process: DaemonProcess

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
        process = try DaemonProcess(
            Self.executable,
            [
                "--name", name, "--data-dir", directory + "/data", "--listen-client-urls", clientURL,
                "--advertise-client-urls", clientURL, "--listen-peer-urls", peerURL,
                "--initial-advertise-peer-urls", peerURL, "--initial-cluster", cluster ?? "\(name)=\(peerURL)",
                "--initial-cluster-state", "new", "--heartbeat-interval", "50", "--election-timeout", "500",
            ],
            environment: [:],
            logPath: directory + "/etcd.log"
        )
        if cluster == nil { try waitUntilServing() }
    }

    /// Waits (up to 15 s) until the member answers `/version`.
    public func waitUntilServing() throws {
        let port = Int(clientURL.split(separator: ":").last ?? "") ?? 0
        for _ in 0..<150 {
            if Daemons.httpGet(port: port, path: "/version") != nil { return }
            usleep(100_000)
        }
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "etcd did not start: \(process.log)"])
    }

    /// SIGKILL, as a crash.
    public func kill() { process.stop(SIGKILL) }

    deinit {
        process.stop(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
