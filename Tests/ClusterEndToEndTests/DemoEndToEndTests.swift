import ClusterTestSupport
import Foundation
import Testing

extension ClusterEndToEndTests {
    /// Issue 10: `chainkeeper demo`, README's first command, tells the whole story and leaves nothing behind.
    ///
    /// Its daemons run deploy/examples' configs (overridden only by `CHAINKEEPERD_*` variables), so this also proves
    /// those files start a working cluster.
    @Test func theDemoWalksThroughTheClusterAndCleansUp() async throws {
        let result = try await Daemons.run(
            Daemons.chainkeeper,
            ["demo", "--examples", Self.repository + "/deploy/examples"],
            environment: ["PATH": "/usr/bin:/bin"]
        )
        #expect(result.status == 0, "\(result.out)\n\(result.err)")
        let out = result.out
        for expected in [
            "file-on-local-volume  build01", "file-on-local-volume  db01", "web01 → node2: allowed",
            "web01 → node2: committed", "db01 → node2: refused (1 reason)", "before-upgrade.vmrs", "held: build01",
            "mail01 runs elsewhere", "node3: fenced, every highly available VM on it stopped", "mail01  node3 → node",
            "failover-blocked      build01", "Stopped the coordinator and agents and removed",
            "deploy/examples's coordinator.yaml and agent.yaml",
        ] {
            #expect(out.contains(expected), "the demo's output lacks '\(expected)'")
        }
        let root = try #require(
            out.split(separator: "\n").first?.split(separator: " ").last.map(String.init),
            "the first line names the demo's directory"
        )
        #expect(root.contains("chainkeeper-demo-"))
        #expect(!FileManager.default.fileExists(atPath: root), "the demo removed \(root)")
        // No daemon or watchdog of the demo is left running.
        for _ in 0..<50 where !Self.processes(mentioning: root).isEmpty {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(Self.processes(mentioning: root).isEmpty, "left running: \(Self.processes(mentioning: root))")
    }

    /// Command lines of running processes that contain `text`.
    static func processes(mentioning text: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return line.contains(text) ? "\(pid): \(line)" : nil
        }
    }
}
