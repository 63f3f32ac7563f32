import ClusterTestSupport
import Foundation
import Testing

extension ClusterEndToEndTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Issue 10: `deploy/install.sh` stages binaries, units, the example configs and the CLI's completion scripts; a
    /// second run keeps an edited config.
    @Test func theInstallScriptStagesUnitsConfigsAndCompletions() async throws {
        let destination = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ck-install-\(UUID().uuidString)"
        )
        .path
        defer { try? FileManager.default.removeItem(atPath: destination) }
        let binaries = (Daemons.chainkeeper as NSString).deletingLastPathComponent
        let script = Self.repository + "/deploy/install.sh"
        let first = try await Daemons.run(
            "/bin/bash",
            [script, "--from", binaries, "--destdir", destination],
            environment: ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin"]
        )
        #expect(first.status == 0, "\(first.out) \(first.err)")
        func read(_ path: String) -> String {
            (try? String(contentsOfFile: destination + path, encoding: .utf8)) ?? ""
        }
        for binary in ["chainkeeper", "chainkeeperd"] {
            #expect(FileManager.default.isExecutableFile(atPath: destination + "/usr/local/bin/" + binary))
        }
        let agentUnit = read("/etc/systemd/system/chainkeeper-agent.service")
        let coordinatorUnit = read("/etc/systemd/system/chainkeeper-coordinator.service")
        #expect(agentUnit.contains("\nKillMode=process\n"), "the watchdog must outlive the agent")
        #expect(agentUnit.contains("ExecStart=/usr/local/bin/chainkeeperd agent --config /etc/chainkeeper/agent.yaml"))
        #expect(
            coordinatorUnit.contains(
                "ExecStart=/usr/local/bin/chainkeeperd coordinator --config /etc/chainkeeper/coordinator.yaml"
            )
        )
        #expect(coordinatorUnit.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        for config in ["coordinator.yaml", "agent.yaml"] {
            let example = try String(contentsOfFile: Self.repository + "/deploy/examples/" + config, encoding: .utf8)
            #expect(read("/etc/chainkeeper/" + config) == example, "\(config) is the tested example")
            let mode =
                try FileManager.default.attributesOfItem(atPath: destination + "/etc/chainkeeper/" + config)[
                    .posixPermissions
                ] as? Int
            #expect(mode == 0o600, "configs hold tokens")
        }
        let bash = read("/usr/share/bash-completion/completions/chainkeeper")
        #expect(bash.contains("_chainkeeper") && bash.contains("migrate") && bash.contains("whatif"))
        #expect(read("/usr/share/zsh/vendor-completions/_chainkeeper").hasPrefix("#compdef chainkeeper"))
        #expect(read("/usr/share/fish/vendor_completions.d/chainkeeper.fish").contains("complete -c 'chainkeeper'"))

        // An administrator's edits survive a reinstall.
        try "edited: true\n".write(
            toFile: destination + "/etc/chainkeeper/agent.yaml",
            atomically: true,
            encoding: .utf8
        )
        let second = try await Daemons.run(
            "/bin/bash",
            [script, "--from", binaries, "--destdir", destination],
            environment: ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin"]
        )
        #expect(second.status == 0)
        #expect(second.out.contains("kept"))
        #expect(read("/etc/chainkeeper/agent.yaml") == "edited: true\n")
    }
}
