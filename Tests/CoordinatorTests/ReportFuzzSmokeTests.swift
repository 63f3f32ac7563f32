import ClusterTestSupport
import Foundation
import ReportFuzzing
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The report fuzzer's smoke run (issue 20): 150 seeded hostile reports with heartbeats and admin reads against a real
/// coordinator process, which must answer every one, serve every admin read, and start again on the database they left.
///
/// The long run is `chainkeeper-fuzz reports` (docs/testing.md).
@Suite struct ReportFuzzSmokeTests {
    @Test func hostileReportsNeitherCrashTheCoordinatorNorItsRestart() async throws {
        let (process, port, directory) = try OverloadTests.coordinatorProcess(maxBodyBytes: 16 << 20)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let campaign = ReportFuzzCampaign(
            fuzzer: ReportFuzzer(seed: 20_261_202, nodes: LiveCoordinator.nodes),
            port: port,
            adminToken: LiveCoordinator.adminToken,
            agentToken: { LiveCoordinator.agentToken($0) }
        )
        let tally = await OverloadTests.offPool {
            var tally = ReportFuzzCampaign.Tally()
            campaign.run(0..<150, into: &tally)
            return tally
        }
        #expect(process.process.isRunning, "the coordinator is alive: \(process.log.suffix(2000))")
        #expect(tally.inputs == 150 && tally.statuses[0] == nil, "\(tally)")
        #expect(tally.statuses[500] == nil, "no report made the coordinator fail: \(tally)")
        #expect(tally.statuses[200, default: 0] > 20 && tally.statuses[400, default: 0] > 20, "\(tally)")
        #expect(tally.failedReads.isEmpty, "\(tally.failedReads)")
        #expect(process.stop() == 0)

        // The same database, a new process: it starts, and its failover rounds read what the fuzz stored.
        let config = URL(fileURLWithPath: process.logPath).deletingLastPathComponent()
            .appendingPathComponent("coordinator.json").path
        let again = try DaemonProcess(
            Daemons.chainkeeperd,
            ["coordinator", "--config", config],
            environment: [:],
            logPath: process.logPath + ".restart"
        )
        defer { again.stop() }
        let deadline = ContinuousClock.now + .seconds(30)
        while Daemons.httpGet(port: port, path: "/healthz") == nil, again.process.isRunning,
            ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(100))
        }
        let audit = Daemons.httpGet(
            port: port,
            path: "/v1/audit",
            headers: ["Authorization": "Bearer \(LiveCoordinator.adminToken)"]
        )
        #expect(audit?.status == 200, "\(again.log.suffix(2000))")
    }
}
