import ClusterTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `chainkeeperd coordinator` process: starts from the deployed example config, serves,
/// and stops cleanly on SIGTERM.
@Suite struct DaemonProcessTests {
    @Test func coordinatorServesAndStopsOnSIGTERM() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "chainkeeperd-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = Daemons.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Daemons.chainkeeperd)
        process.arguments = ["coordinator", "--config", ConfigTests.exampleConfig]
        process.environment = ["CHAINKEEPERD_LISTEN": "127.0.0.1:\(port)", "CHAINKEEPERD_DATA_DIR": directory]
        let errors = Pipe()
        process.standardError = errors
        try process.run()

        var health: String?
        for _ in 0..<100 where health == nil {
            try await Task.sleep(for: .milliseconds(100))
            health = Daemons.httpGet(port: port, path: "/healthz")
        }
        #expect(health == "ok\n")
        #expect(FileManager.default.fileExists(atPath: "\(directory)/cluster.sqlite"))
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("plain HTTP"), "the log says the transport is not encrypted")
        #expect(log.contains("coordinator stopped"))
    }

    @Test func aBadConfigIsAClearStartupError() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Daemons.chainkeeperd)
        process.arguments = ["coordinator", "--config", "/nonexistent/coordinator.yaml"]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(message.contains("cannot read /nonexistent/coordinator.yaml"))
    }
}
