import ClusterEtcd
import ClusterTestSupport
import Foundation
import Testing

/// `EtcdClient` against a real etcd 3.4 member on loopback (issue 8's first part): every call the etcd backend will
/// make, with the gateway's quirks (base64, numbers as strings, omitted zero fields).
@Suite(.serialized) struct EtcdClientTests {
    @Test func keysRoundTripAndPrefixesListInOrder() async throws {
        let etcd = try EtcdProcess()
        let client = EtcdClient(endpoints: [etcd.clientURL])
        #expect(try await client.get("vms/none") == nil)
        let binary: [UInt8] = [0, 1, 2, 0xFF, 0x22, 0x5C]
        let revision = try await client.put("vms/b/owner", binary)
        try await client.put("vms/a/owner", Array("node1".utf8))
        try await client.put("vmt/other", Array("x".utf8))
        let read = try #require(try await client.get("vms/b/owner"))
        #expect(read.value == binary)
        #expect(read.modRevision == revision && read.createRevision == revision && read.version == 1)
        #expect(try await client.range(prefix: "vms/").map(\.key) == ["vms/a/owner", "vms/b/owner"])
        for index in 0..<5 { try await client.put("vms/c\(index)", Array("\(index)".utf8)) }
        let paged = try await client.range(prefix: "vms/", pageSize: 2)
        #expect(paged.map(\.key) == ["vms/a/owner", "vms/b/owner"] + (0..<5).map { "vms/c\($0)" }, "pages in order")
        for index in 0..<5 { try await client.delete("vms/c\(index)") }
        #expect(try await client.delete("vms/a/owner") == 1)
        #expect(try await client.delete("vms/a/owner") == 0)
        #expect(try await client.range(prefix: "vms/").map(\.key) == ["vms/b/owner"])
    }

    @Test func transactionsGuardWritesByRevision() async throws {
        let etcd = try EtcdProcess()
        let client = EtcdClient(endpoints: [etcd.clientURL])
        // Create-if-absent: the first wins, the second reads who won.
        let claim = EtcdTransaction(
            compare: [.absent("leader")],
            success: [.put("leader", Array("coordinator-1".utf8))],
            failure: [.get("leader")]
        )
        #expect(try await client.transaction(claim).succeeded)
        let lost = try await client.transaction(claim)
        #expect(!lost.succeeded)
        #expect(lost.ranges.first?.first?.value == Array("coordinator-1".utf8))

        // Compare-and-swap on the owner key's revision: a writer that read an older revision is refused.
        let first = try await client.put("vms/x/owner", Array("node1".utf8))
        let moved = EtcdTransaction(
            compare: [.unchanged("vms/x/owner", since: first)],
            success: [.put("vms/x/owner", Array("node2".utf8)), .put("journal/m1", Array("committed".utf8))]
        )
        #expect(try await client.transaction(moved).succeeded)
        #expect(try await !client.transaction(moved).succeeded, "the revision moved: a stale writer is refused")
        #expect(try await client.get("vms/x/owner")?.value == Array("node2".utf8))
        #expect(try await client.get("journal/m1")?.value == Array("committed".utf8), "both writes or neither")

        // The leader key's create revision fences a deposed leader.
        let leader = try #require(try await client.get("leader"))
        let guarded = EtcdTransaction(
            compare: [.created("leader", at: leader.createRevision)],
            success: [.put("vms/x/owner", Array("node3".utf8))]
        )
        #expect(try await client.transaction(guarded).succeeded)
        try await client.delete("leader")
        try await client.put("leader", Array("coordinator-2".utf8))
        #expect(try await !client.transaction(guarded).succeeded, "a write under the old leadership is refused")
        #expect(
            try await client.transaction(
                EtcdTransaction(compare: [.holds("leader", Array("coordinator-2".utf8))], success: [])
            ).succeeded
        )
    }

    @Test func leasesKeepKeysAliveAndRevokingDeletesThem() async throws {
        let etcd = try EtcdProcess()
        let client = EtcdClient(endpoints: [etcd.clientURL])
        let lease = try await client.grantLease(ttl: 5)
        try await client.put("nodes/node1", Array("alive".utf8), lease: lease)
        #expect(try await client.get("nodes/node1")?.lease == lease)
        #expect(try await client.keepAlive(lease) > 0)
        try await client.revokeLease(lease)
        #expect(try await client.get("nodes/node1") == nil, "revoking the lease deleted its key")
        #expect(try await client.keepAlive(lease) == 0, "a revoked lease cannot be renewed")
        try await client.revokeLease(lease)  // unknown now: not an error
        let short = try await client.grantLease(ttl: 1)
        try await client.put("nodes/node2", Array("alive".utf8), lease: short)
        try await Task.sleep(for: .seconds(3))
        #expect(try await client.get("nodes/node2") == nil, "an expired lease took its key")
    }

    @Test func aDeadMemberIsSkippedAndNoMemberAtAllIsUnavailable() async throws {
        let etcd = try EtcdProcess()
        let dead = "http://127.0.0.1:\(Daemons.freePort())"
        let client = EtcdClient(endpoints: [dead, etcd.clientURL])
        try await client.put("k", Array("v".utf8))
        #expect(try await client.get("k")?.value == Array("v".utf8))
        etcd.kill()
        let gone = EtcdClient(endpoints: [dead, etcd.clientURL], timeout: .seconds(2))
        do {
            _ = try await gone.get("k")
            Issue.record("a read with no member alive succeeded")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.message.contains(dead), "the message names each member tried: \(error.message)")
        }
    }
}
