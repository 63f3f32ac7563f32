import ChainModel
import ClusterAPI
import ClusterStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// `chainkeeper backup FILE` against a live coordinator: a consistent SQLite copy that opens as a cluster database
/// with everything in it, taken while the coordinator serves.
@Suite struct BackupTests {
    @Test func aBackupIsAWholeDatabaseAndNeverOverwrites() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            let port = try #require(client.port)
            let vms = [LiveCoordinator.vm("web01", node: "node1"), LiveCoordinator.vm("db01", node: "node1", local: 4)]
            let posted = try await LiveCoordinator.post(
                LiveCoordinator.report("node1", vms: vms, read: ["node1"]),
                as: LiveCoordinator.agentToken("node1"),
                client: client
            )
            #expect(posted.status == .ok)
            let file = live.directory + "/copy.sqlite"
            let taken = try await CLIAgainstCoordinatorTests.run(["backup", file], port: port)
            #expect(taken.status == 0, "\(taken.err)")
            #expect(taken.out.contains("backup written: \(file)"))
            let copy = try ClusterStore(path: file)
            #expect(try copy.snapshot().vms.map(\.name).sorted() == ["db01", "web01"])
            #expect(try copy.snapshot().vms.first { $0.name == "db01" }?.files.count == 5)
            // No temporary copy is left beside the live database.
            let left = try FileManager.default.contentsOfDirectory(atPath: live.directory).filter {
                $0.hasPrefix("backup-")
            }
            #expect(left.isEmpty, "\(left)")

            let again = try await CLIAgainstCoordinatorTests.run(["backup", file], port: port)
            #expect(again.status == 1)
            #expect(again.err.contains("already exists"))
            let asAgent = try await CLIAgainstCoordinatorTests.run(
                ["backup", live.directory + "/other.sqlite"],
                port: port,
                token: LiveCoordinator.agentToken("node1")
            )
            #expect(asAgent.status == 1)
            #expect(asAgent.err.contains("this route needs an admin token"))
            #expect(!FileManager.default.fileExists(atPath: live.directory + "/other.sqlite"))
            #expect(!FileManager.default.fileExists(atPath: live.directory + "/other.sqlite.partial"))
        }
    }
}
