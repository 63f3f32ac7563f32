import ClusterAPI
import ClusterTLS
import ClusterTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 9: the cluster-core scenario over HTTPS, agents authenticated by node certificates, the CLI by an admin
/// certificate; and every refusal the issue lists, each with a clear error.
extension ClusterEndToEndTests {
    /// `curl` with client certificates, for requests the CLI never makes (an agent's report for another node).
    static func curl(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let tool = "/usr/bin/curl"
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            Issue.record("curl is missing: install curl (scripts/test does)")
            return (127, "", "curl missing")
        }
        return try Daemons.runBlocking(tool, ["-sS", "--max-time", "10"] + arguments, environment: [:])
    }

    @Test func theClusterRunsOverTLSWithClientCertificatesAndRefusesWhatItShould() async throws {
        let layout = try ClusterLayout()
        defer { layout.remove() }
        for (node, vms) in try layout.buildScenario() { try layout.writeInventory(node, vms) }
        var cluster = try Cluster(layout: layout, tls: true)
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents()
        // The cluster-core scenario, over HTTPS: agents report with their node certificates, the CLI reads with the
        // admin certificate, no token anywhere.
        let audit = try #require(
            try await cluster.waitForAudit { audit in
                Set(audit.risks.compactMap(\.vm)) == Self.risky && audit.risks.allSatisfy { $0.vm != nil }
            },
            "coordinator: \(cluster.coordinator?.log.suffix(2000) ?? "")"
        )
        #expect(audit.risks.contains { $0.vm == "midlocal" && $0.code == "file-on-local-volume" })
        let nodes = try await cluster.json(["nodes"], as: [NodeJSON].self)
        #expect(nodes.map(\.name) == ["a", "b", "c"])
        #expect(cluster.coordinator?.log.contains("listening on https://127.0.0.1") == true)

        var plain = cluster.environment
        let ca = layout.root + "/ca/ca.crt"
        func cli(
            _ arguments: [String],
            _ environment: [String: String]
        ) async throws -> (
            status: Int32, out: String, err: String
        ) {
            try await Daemons.run(Daemons.chainkeeper, arguments, environment: environment)
        }

        // No client certificate and no token: 401 with what is needed.
        plain["CHAINKEEPER_CERT"] = nil
        plain["CHAINKEEPER_KEY"] = nil
        let anonymous = try await cli(["nodes"], plain)
        #expect(anonymous.status == 1)
        #expect(anonymous.err.contains("a client certificate issued by the cluster CA, or a bearer token, is required"))

        // An admin token over TLS is still accepted.
        plain["CHAINKEEPER_TOKEN"] = ClusterEndToEndTests.adminToken
        #expect(try await cli(["nodes"], plain).status == 0)

        // A certificate from another CA: the handshake fails.
        try ClusterCA.initialize(in: layout.root + "/rogue")
        try ClusterCA.issue(.admin("mallory"), caDirectory: layout.root + "/rogue", out: layout.root + "/rogue")
        var rogue = cluster.environment
        rogue["CHAINKEEPER_CERT"] = layout.root + "/rogue/mallory.crt"
        rogue["CHAINKEEPER_KEY"] = layout.root + "/rogue/mallory.key"
        let foreign = try await cli(["nodes"], rogue)
        #expect(foreign.status == 1)
        #expect(foreign.err.contains("cannot reach the coordinator"), "\(foreign.err)")

        // An expired certificate from the right CA: the handshake fails too.
        try ClusterCA.issue(
            .admin("expired"),
            caDirectory: layout.root + "/ca",
            out: layout.root + "/old",
            now: Date().addingTimeInterval(-10 * 86_400),
            lifetime: 86_400
        )
        var old = cluster.environment
        old["CHAINKEEPER_CERT"] = layout.root + "/old/expired.crt"
        old["CHAINKEEPER_KEY"] = layout.root + "/old/expired.key"
        let expired = try await cli(["nodes"], old)
        #expect(expired.status == 1)
        #expect(expired.err.contains("cannot reach the coordinator"), "\(expired.err)")

        // A node certificate used to report for another node: 403, and an admin route refuses it as well.
        let certs = layout.root + "/certs"
        let spoof = try Self.curl([
            "--cacert", ca, "--cert", certs + "/a.crt", "--key", certs + "/a.key", "-X", "POST", "-d", "{}",
            "\(cluster.url)/v1/agents/b/heartbeat",
        ])
        #expect(spoof.out.contains("only b's agent may act for b"), "\(spoof)")
        let nodeAsAdmin = try Self.curl([
            "--cacert", ca, "--cert", certs + "/a.crt", "--key", certs + "/a.key", "\(cluster.url)/v1/nodes",
        ])
        #expect(nodeAsAdmin.out.contains("this route needs an admin token"), "\(nodeAsAdmin)")

        // The dashboard (issue 11): an admin certificate opens it without a log-in; a node certificate is refused; no
        // credential at all is sent to the log-in form, whose session cookie is Secure under TLS.
        let page = try Self.curl([
            "--cacert", ca, "--cert", certs + "/ops.crt", "--key", certs + "/ops.key", "\(cluster.url)/ui/vms",
        ])
        #expect(page.out.contains("<h1>VMs</h1>") && page.out.contains(">ops</span>"), "\(page.out.prefix(600))")
        let nodePage = try Self.curl([
            "--cacert", ca, "--cert", certs + "/a.crt", "--key", certs + "/a.key", "-o", "/dev/null", "-w",
            "%{http_code}", "\(cluster.url)/ui",
        ])
        #expect(nodePage.out == "403")
        let noCredential = try Self.curl(["--cacert", ca, "-o", "/dev/null", "-w", "%{http_code}", "\(cluster.url)/ui"])
        #expect(noCredential.out == "303")
        let login = try Self.curl([
            "--cacert", ca, "-i", "-d", "token=\(ClusterEndToEndTests.adminToken)", "\(cluster.url)/ui/login",
        ])
        #expect(login.out.contains("; Secure"), "\(login.out.prefix(600))")

        // A server certificate that does not match the host dialled: a second coordinator whose certificate names
        // only elsewhere.example. The CLI and an agent both refuse it.
        let otherPort = Daemons.freePort()
        try ClusterCA.issue(.server(hosts: ["elsewhere.example"]), caDirectory: layout.root + "/ca", out: certs)
        try """
        listen: "127.0.0.1:\(otherPort)"
        dataDir: \(layout.root)/coordinator-elsewhere
        adminTokens: [\(ClusterEndToEndTests.adminToken)]
        tls: {certificate: \(certs)/elsewhere.example.crt, key: \(certs)/elsewhere.example.key, clientCA: \(ca)}
        """.write(toFile: layout.root + "/elsewhere.yaml", atomically: true, encoding: .utf8)
        let elsewhere = try DaemonProcess(
            Daemons.chainkeeperd,
            ["coordinator", "--config", layout.root + "/elsewhere.yaml"],
            environment: [:],
            logPath: layout.root + "/elsewhere.log"
        )
        defer { _ = elsewhere.stop() }
        for _ in 0..<50 where !elsewhere.log.contains("listening on https://") {
            try await Task.sleep(for: .milliseconds(100))
        }
        var renamed = cluster.environment
        renamed["CHAINKEEPER_URL"] = "https://127.0.0.1:\(otherPort)"
        let mismatch = try await cli(["nodes"], renamed)
        #expect(mismatch.status == 1)
        #expect(
            mismatch.err.contains("cannot reach the coordinator at https://127.0.0.1:\(otherPort)"),
            "\(mismatch.err)"
        )
        let agentConfig = try String(contentsOfFile: layout.root + "/agent-a.json", encoding: .utf8)
            .replacingOccurrences(of: "127.0.0.1:\(cluster.port)", with: "127.0.0.1:\(otherPort)")
            .replacingOccurrences(of: "agent-a\"", with: "agent-a-elsewhere\"")
        try agentConfig.write(toFile: layout.root + "/agent-elsewhere.json", atomically: true, encoding: .utf8)
        let misdirected = try DaemonProcess(
            Daemons.chainkeeperd,
            ["agent", "--config", layout.root + "/agent-elsewhere.json"],
            environment: [:],
            logPath: layout.root + "/agent-elsewhere.log"
        )
        defer { _ = misdirected.stop() }
        for _ in 0..<60 where !misdirected.log.contains("coordinator not reachable") {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(misdirected.log.contains("coordinator not reachable"), "\(misdirected.log.suffix(1500))")
        #expect(misdirected.log.contains("failedToValidateHostname"), "the agent says why")

        // The coordinator's side of each refusal, one log line each.
        let log = cluster.coordinator?.log ?? ""
        #expect(log.contains("no client certificate and no bearer token"), "\(log.suffix(3000))")
        #expect(log.contains("refused the client certificate of") && log.contains("CN=mallory"))
        #expect(log.contains("CN=expired") && log.contains("expired at"))
        #expect(log.contains("only b's agent may act for b"))

        // SIGHUP reloads certificates: trust the other CA too (a bundle of both), and mallory gets in; then a new
        // server certificate is what the next handshake presents.
        let bundle =
            try String(contentsOfFile: ca, encoding: .utf8)
            + String(contentsOfFile: layout.root + "/rogue/ca.crt", encoding: .utf8)
        try bundle.write(toFile: layout.root + "/client-ca.pem", atomically: true, encoding: .utf8)
        func serial() throws -> String {
            let shown = try Daemons.runBlocking(
                "/bin/sh",
                [
                    "-c",
                    "openssl s_client -connect 127.0.0.1:\(cluster.port) -CAfile \(ca) </dev/null 2>/dev/null "
                        + "| openssl x509 -noout -serial",
                ],
                environment: ["PATH": "/usr/bin:/bin"]
            )
            return shown.out.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let before = try serial()
        try ClusterCA.issue(.server(hosts: ["127.0.0.1"]), caDirectory: layout.root + "/ca", out: certs)
        let coordinatorPID = try #require(cluster.coordinator?.process.processIdentifier)
        kill(coordinatorPID, SIGHUP)
        for _ in 0..<50 where cluster.coordinator?.log.contains("certificates reloaded") != true {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(
            cluster.coordinator?.log.contains("SIGHUP: certificates reloaded") == true,
            "\(cluster.coordinator?.log.suffix(1500) ?? "")"
        )
        #expect(try await cli(["nodes"], rogue).status == 0, "the other CA is trusted after the reload")
        let after = try serial()
        #expect(before.hasPrefix("serial=") && after.hasPrefix("serial=") && before != after, "\(before) \(after)")
        #expect(try await cluster.cli(["nodes"]).status == 0, "the agents' and the CLI's CA still verifies it")

        // And plain HTTP to the TLS port gets nowhere.
        var clear = cluster.environment
        clear["CHAINKEEPER_URL"] = "http://127.0.0.1:\(cluster.port)"
        #expect(try await cli(["nodes"], clear).status == 1)
    }
}
