import ChainModel
import ClusterAPI
import ClusterStore
import ClusterTestSupport
import Coordinator
import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import Testing

/// Issue 20 item 7: a name with terminal escape sequences or a newline, stored before names were checked (or by a
/// coordinator that does not check them), is printed escaped by the CLI: it can neither drive the administrator's
/// terminal nor forge a line of output.
///
/// JSON output carries it exactly, as JSON escapes it.
@Suite struct PrintedNamesTests {
    static let hostile = "web\u{1B}]0;owned\u{07}\u{1B}[2J\nnode9 up"

    @Test func theCLIEscapesWhatItPrints() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            let port = try #require(client.port)
            let report = LiveCoordinator.report("node1", vms: [LiveCoordinator.vm("web01", node: "node1")], read: [])
            #expect(
                try await LiveCoordinator.post(report, as: LiveCoordinator.agentToken("node1"), client: client).status
                    == .ok
            )
            try await live.coordinator.store.writer.write { db in
                try db.execute(sql: "UPDATE vm SET name = ?", arguments: [Self.hostile])
                try db.execute(
                    sql: "UPDATE vm_inventory SET body = json_set(body, '$.checkpoints[0][1]', ?)",
                    arguments: [Self.hostile]
                )
            }
            for arguments in [["vms"], ["vm", "show", "web01-id"], ["query", "SELECT name FROM vms"]] {
                let run = try await CLIAgainstCoordinatorTests.run(arguments, port: port)
                #expect(run.status == 0, "\(arguments): \(run.err)")
                #expect(!run.out.unicodeScalars.contains("\u{1B}"), "\(arguments) printed a raw escape")
                #expect(!run.out.unicodeScalars.contains("\u{07}"))
                #expect(run.out.contains(#"web\u{1B}]0;owned\u{7}\u{1B}[2J\nnode9 up"#), "\(arguments): \(run.out)")
                #expect(!run.out.split(separator: "\n").contains { $0.hasPrefix("node9") }, "no forged line")
            }
            let json = try await CLIAgainstCoordinatorTests.run(["vms", "--json"], port: port)
            let decoded = try JSONDecoder().decode([VMSummaryJSON].self, from: Data(json.out.utf8))
            #expect(decoded.first?.name == Self.hostile, "JSON keeps the exact name")
            let missing = try await CLIAgainstCoordinatorTests.run(["vm", "show", "no\u{1B}[2Jsuch"], port: port)
            #expect(missing.status == 4)
            #expect(!missing.err.unicodeScalars.contains("\u{1B}"), "errors are escaped too: \(missing.err)")
        }
    }

    @Test func printableTextEscapesEveryControlCharacterAndNothingElse() {
        #expect(PrintableText.escape("plain név ✓") == "plain név ✓")
        #expect(PrintableText.escape("a\nb\tc\r") == #"a\nb\tc\r"#)
        #expect(PrintableText.escape("\u{1B}[31m\u{9B}\u{7F}\u{202E}\u{0}") == #"\u{1B}[31m\u{9B}\u{7F}\u{202E}\u{0}"#)
        #expect(NameRule.name("a VM name").violation(in: "ok-name_01") == nil)
        #expect(NameRule.name("a VM name").violation(in: "bad\u{2028}") != nil)
    }
}
