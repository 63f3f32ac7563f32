import ChainModel
import ClusterEtcd
import ClusterStore
import ClusterTestSupport
import Foundation
import Testing

@testable import ClusterAuthority

/// What etcd's writer remembers of its own writes (`WrittenKeys`): a failover's steps read nothing after the plan,
/// and a remembered value is only a hint, so one changed behind the writer's back is read again and never wins.
@Suite struct EtcdWrittenKeysTests {
    /// Range requests etcd answered, from its own metrics (every read the store makes is one).
    static func ranges(_ member: EtcdProcess) throws -> Int {
        let port = try #require(Int(member.clientURL.split(separator: ":").last ?? ""))
        let metrics = try #require(Daemons.httpGet(port: port, path: "/metrics"))
        let line = try #require(
            metrics.split(separator: "\n").first {
                $0.hasPrefix("grpc_server_handled_total{") && $0.contains("grpc_code=\"OK\"")
                    && $0.contains("grpc_method=\"Range\"")
            }
        )
        return try #require(Int(line.split(separator: " ").last ?? ""))
    }

    @Test func aMigrationsStepsAfterItsPlanReadNothing() async throws {
        let fixture = try await AuthorityFixture(.etcd)
        let member = try #require(fixture.etcd)
        let store = fixture.authority
        let term = try await fixture.lead()
        let now = fixture.now
        let record = try await store.planMigration(
            vm: AuthorityFixture.vmA,
            source: NodeName("node1"),
            target: NodeName("node2"),
            kind: .failover,
            requestedBy: "failover",
            at: now,
            term: term
        )
        let before = try Self.ranges(member)
        for step in [MigrationRecord.State.preflight, .sourceReleased, .targetAdopted] {
            try await store.advanceMigration(record.id, to: step, detail: nil, at: now, term: term)
        }
        let committed = try await store.commitMigration(record.id, at: now, term: term)
        #expect(try Self.ranges(member) == before, "four writes, no read")
        #expect(committed?.ownership == Ownership(owner: NodeName("node2"), epoch: record.epoch))
        #expect(try await store.owner(of: AuthorityFixture.vmA) == committed?.ownership)
        #expect(try await store.migration(id: record.id) == committed?.record)
    }

    @Test func aRememberedValueChangedBehindTheWritersBackLosesAndIsReadAgain() async throws {
        let fixture = try await AuthorityFixture(.etcd)
        let member = try #require(fixture.etcd)
        let store = fixture.authority
        let term = try await fixture.lead()
        let now = fixture.now
        let record = try await store.planMigration(
            vm: AuthorityFixture.vmA,
            source: NodeName("node1"),
            target: NodeName("node2"),
            kind: .migration,
            requestedBy: "admin",
            at: now,
            term: term
        )
        // Behind the writer's back, the record moved on to target-adopted: the writer remembers it planned.
        var moved = try #require(try await store.migration(id: record.id))
        for step in [MigrationRecord.State.preflight, .sourceReleased, .targetAdopted] {
            moved.state = step
            moved.steps.append(MigrationRecord.Step(state: step, at: now, detail: "elsewhere"))
        }
        let client = EtcdClient(endpoints: [member.clientURL])
        _ = try await client.put("chainkeeper/test/migration/\(record.id)", try EtcdJSON.encode(moved))

        // planned → preflight is allowed by what it remembers, not by what etcd holds: refused after a fresh read.
        #expect(
            await storeErrorCode {
                try await store.advanceMigration(record.id, to: .preflight, detail: nil, at: now, term: term)
            } == .invalidTransition
        )
        // A "made already" is believed only from etcd. The writer takes the record on to target-adopted; behind its
        // back it goes back to source-released; the writer's retry of its step finds it made in what it remembers,
        // and still makes it.
        moved.state = .sourceReleased
        moved.steps.removeLast()
        _ = try await client.put("chainkeeper/test/migration/\(record.id)", try EtcdJSON.encode(moved))
        try await store.advanceMigration(record.id, to: .targetAdopted, detail: "here", at: now, term: term)
        _ = try await client.put("chainkeeper/test/migration/\(record.id)", try EtcdJSON.encode(moved))
        try await store.advanceMigration(record.id, to: .targetAdopted, detail: "here", at: now, term: term)
        let held = try #require(try await store.migration(id: record.id))
        #expect(held.state == .targetAdopted)
        #expect(held.steps.map(\.state) == [.planned, .preflight, .sourceReleased, .targetAdopted])
        try await store.commitMigration(record.id, at: now, term: term)
        #expect(
            try await store.owner(of: AuthorityFixture.vmA) == Ownership(owner: NodeName("node2"), epoch: record.epoch)
        )
    }
}
