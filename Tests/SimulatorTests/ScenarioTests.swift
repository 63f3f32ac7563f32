import ChainModel
import ClusterSimulator
import DecisionEngine
import Foundation
import Testing

/// The failover scenario suite (pve-ha-manager style): every folder under `Scenarios/` holds `cluster`, `commands`
/// and `expected.log`; the simulation's log must equal `expected.log` line by line, and no invariant may break.
///
/// `CHAINKEEPER_UPDATE_GOLDEN=1 swift test --filter ScenarioTests` rewrites the logs; review the diff before committing.
@Suite struct ScenarioTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Scenarios"
    )

    static let names: [String] =
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()

    @Test func theSuiteHasEnoughScenarios() {
        #expect(Self.names.count >= 20, "found \(Self.names.count) scenarios in \(Self.directory.path)")
    }

    @Test(arguments: names) func scenario(_ name: String) throws {
        let folder = Self.directory.appendingPathComponent(name)
        let scenario = try Scenario(
            cluster: try String(contentsOf: folder.appendingPathComponent("cluster"), encoding: .utf8),
            commands: try String(contentsOf: folder.appendingPathComponent("commands"), encoding: .utf8)
        )
        let simulation = Simulation.run(scenario)
        #expect(simulation.violations.isEmpty, "\(name): \(simulation.violations)")
        let expectedURL = folder.appendingPathComponent("expected.log")
        let actual = simulation.log.joined(separator: "\n") + "\n"
        if ProcessInfo.processInfo.environment["CHAINKEEPER_UPDATE_GOLDEN"] == "1" {
            try actual.write(to: expectedURL, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: expectedURL, encoding: .utf8)
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
        for index in 0..<max(expectedLines.count, actualLines.count) {
            let want = index < expectedLines.count ? String(expectedLines[index]) : "<end of log>"
            let got = index < actualLines.count ? String(actualLines[index]) : "<end of log>"
            guard want == got else {
                Issue.record("\(name), line \(index + 1):\n  expected: \(want)\n  actual:   \(got)")
                return
            }
        }
    }
}
