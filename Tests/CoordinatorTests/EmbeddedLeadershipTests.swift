import ChainModel
import ClusterStore
import Coordinator
import Foundation
import Testing

/// Leadership on the embedded backend (issue 8): a coordinator leads its own database from the start, a restart of
/// the same coordinator takes over at once under a new term, and a second one on the same database refuses to start.
@Suite struct EmbeddedLeadershipTests {
    @Test func oneCoordinatorPerDatabaseAndARestartTakesOverAtOnce() throws {
        let directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("chainkeeper-leader-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = CoordinatorConfig(dataDir: directory)
        let first = try Coordinator(config: config)
        let firstTerm = try #require(try first.store.leader(at: Coordinator.wallClock()))
        #expect(firstTerm.leader.url == "http://127.0.0.1:7400")

        // The same coordinator restarted (same advertised URL): it leads again at once, under a larger token.
        let restarted = try Coordinator(config: config)
        let secondTerm = try #require(try restarted.store.leader(at: Coordinator.wallClock()))
        #expect(secondTerm.token > firstTerm.token)

        // Another coordinator on the same database while the lease holds: a clear startup error.
        var other = config
        other.listenPort = 7499
        do {
            _ = try Coordinator(config: other)
            Issue.record("a second coordinator started on the same database")
        } catch {
            #expect(error.code == .conflict)
            #expect(error.message.contains("another coordinator (http://127.0.0.1:7400) is using the database"))
        }
    }
}
