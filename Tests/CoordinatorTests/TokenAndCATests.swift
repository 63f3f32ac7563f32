import ClusterTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Tokens as `sha256:` digests, rotation by SIGHUP on a real process, and the cluster CA checked by an independent
/// reader (`openssl`).
@Suite struct TokenAndCATests {
    static func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ck-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func openssl(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let tool = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            Issue.record("openssl is missing: install openssl (scripts/test does)")
            return (127, "", "")
        }
        return try Daemons.runBlocking(tool, arguments, environment: [:])
    }

    @Test func hashedTokensAuthenticateAndSIGHUPRotatesThem() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hashed = try Daemons.runBlocking(
            Daemons.chainkeeper,
            ["token", "hash", "first-admin-token"],
            environment: [:]
        )
        #expect(hashed.status == 0)
        let digest = hashed.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(digest.hasPrefix("sha256:") && digest.count == 71)
        let port = Daemons.freePort()
        let config = directory + "/coordinator.yaml"
        func write(_ tokens: String) throws {
            try """
            listen: "127.0.0.1:\(port)"
            dataDir: \(directory)/data
            adminTokens: [\(tokens)]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        try write("\"\(digest)\"")
        let coordinator = try DaemonProcess(
            Daemons.chainkeeperd,
            ["coordinator", "--config", config],
            environment: [:],
            logPath: directory + "/coordinator.log"
        )
        defer { _ = coordinator.stop() }
        for _ in 0..<100 where Daemons.httpGet(port: port, path: "/healthz") == nil {
            try await Task.sleep(for: .milliseconds(100))
        }
        func nodes(_ token: String) async throws -> (status: Int32, out: String, err: String) {
            try await Daemons.run(
                Daemons.chainkeeper,
                ["nodes"],
                environment: ["CHAINKEEPER_URL": "http://127.0.0.1:\(port)", "CHAINKEEPER_TOKEN": token]
            )
        }
        // The config holds only the digest; the token itself authenticates.
        #expect(try await nodes("first-admin-token").status == 0)
        #expect(try await nodes("sha256-is-not-a-token").status == 1)

        // Rotation: the new token is added, the old one removed, and SIGHUP applies it without a restart.
        try write("second-admin-token")
        kill(coordinator.process.processIdentifier, SIGHUP)
        for _ in 0..<50 where !coordinator.log.contains("SIGHUP: tokens reloaded") {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(coordinator.log.contains("SIGHUP: tokens reloaded"))
        let old = try await nodes("first-admin-token")
        #expect(old.status == 1)
        #expect(old.err.contains("the bearer token is not valid"))
        #expect(try await nodes("second-admin-token").status == 0)
        #expect(coordinator.log.contains("refused GET /v1/nodes: the bearer token is not valid"))

        // A broken config on SIGHUP keeps the running tokens.
        try "dataDir: [".write(toFile: config, atomically: true, encoding: .utf8)
        kill(coordinator.process.processIdentifier, SIGHUP)
        for _ in 0..<50 where !coordinator.log.contains("not reloaded") {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(coordinator.log.contains("not reloaded, the running tokens and certificates stay"))
        #expect(try await nodes("second-admin-token").status == 0)
    }

    @Test func theCAsCertificatesAreWhatOpenSSLReads() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cli = Daemons.chainkeeper
        #expect(try Daemons.runBlocking(cli, ["ca", "init", directory + "/ca"], environment: [:]).status == 0)
        let again = try Daemons.runBlocking(cli, ["ca", "init", directory + "/ca"], environment: [:])
        #expect(again.status == 1)
        #expect(again.err.contains("already holds a CA"))
        for role in [["--node", "node1"], ["--admin", "alice"], ["--server", "coordinator.example,10.0.0.5"]] {
            let issued = try Daemons.runBlocking(
                cli,
                ["ca", "issue", directory + "/ca"] + role + ["--out", directory + "/certs"],
                environment: [:]
            )
            #expect(issued.status == 0, "\(issued.err)")
        }
        let both = try Daemons.runBlocking(
            cli,
            ["ca", "issue", directory + "/ca", "--node", "x", "--admin", "y", "--out", directory],
            environment: [:]
        )
        #expect(both.status != 0)
        let verified = try Self.openssl(
            ["verify", "-CAfile", directory + "/ca/ca.crt"]
                + ["node1", "alice", "coordinator.example"].map { directory + "/certs/\($0).crt" }
        )
        #expect(verified.status == 0, "\(verified.err)")
        #expect(verified.out.components(separatedBy: ": OK").count == 4)
        let server = try Self.openssl(["x509", "-in", directory + "/certs/coordinator.example.crt", "-noout", "-text"])
        #expect(server.out.contains("DNS:coordinator.example, IP Address:10.0.0.5"))
        #expect(server.out.contains("TLS Web Server Authentication"))
        #expect(server.out.contains("O = Chainkeeper, OU = server, CN = coordinator.example"))
        let node = try Self.openssl(["x509", "-in", directory + "/certs/node1.crt", "-noout", "-text"])
        #expect(node.out.contains("TLS Web Client Authentication"))
        #expect(node.out.contains("OU = node, CN = node1"))
        #expect(node.out.contains("CA:FALSE"))
        let ca = try Self.openssl(["x509", "-in", directory + "/ca/ca.crt", "-noout", "-text"])
        #expect(ca.out.contains("CA:TRUE"))
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/certs/node1.key")[.posixPermissions]
        #expect((mode as? Int) == 0o600, "private keys are readable by their owner only")
    }
}
