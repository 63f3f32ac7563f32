import ChainModel
import ClusterEtcd
import ClusterTestSupport
import Foundation
import Testing

@testable import ClusterAuthority

/// Guarded writes that come at once go to a real etcd member as one transaction, and each keeps its own outcome: a
/// write whose key changed loses alone, a write of an ended term is refused, the others land.
@Suite struct EtcdGroupCommitTests {
    @Test func writesAtOnceShareTransactionsAndEachKeepsItsOwnOutcome() async throws {
        let member = try EtcdProcess()
        defer { member.kill() }
        let client = EtcdClient(endpoints: [member.clientURL])
        let lease = try await client.grantLease(ttl: 60)
        _ = try await client.put("g/leader", Array("me".utf8), lease: lease)
        let term = try #require(try await client.get("g/leader")).createRevision
        let group = EtcdGroupCommit(leaderKey: "g/leader") { (transaction) async throws(EtcdError) in
            try await client.transaction(transaction)
        }
        // key 7 exists already: its write, which expects it absent, loses its race.
        _ = try await client.put("g/key7", Array("there".utf8))
        func write(_ index: Int, term: Int64) -> EtcdGroupCommit.Write {
            EtcdGroupCommit.Write(
                term: term,
                compare: [.absent("g/key\(index)")],
                operations: [.put("g/key\(index)", Array("value \(index)".utf8))],
                keys: ["g/key\(index)"]
            )
        }
        let outcomes = try await withThrowingTaskGroup(of: (Int, EtcdGroupCommit.Outcome).self) { tasks in
            for index in 0..<40 {
                // Write 13 carries a term that never led.
                tasks.addTask { (index, try await group.commit(write(index, term: index == 13 ? term + 1000 : term))) }
            }
            var outcomes: [Int: EtcdGroupCommit.Outcome] = [:]
            for try await (index, outcome) in tasks { outcomes[index] = outcome }
            return outcomes
        }
        #expect(outcomes[7] == .lost)
        #expect(outcomes[13] == .notLeader)
        for index in 0..<40 where index != 7 && index != 13 {
            guard case .committed = outcomes[index] else {
                Issue.record("write \(index): \(String(describing: outcomes[index]))")
                continue
            }
            #expect(try await client.get("g/key\(index)")?.value == Array("value \(index)".utf8))
        }
        #expect(try await client.get("g/key7")?.value == Array("there".utf8))
        #expect(try await client.get("g/key13") == nil)
        let sent = group.sent
        #expect(sent.transactions < sent.writes, "writes that came at once shared transactions: \(sent)")

        // Two writes of one key never share a transaction (etcd refuses a key put twice): both land, in turn.
        let twice = try await withThrowingTaskGroup(of: EtcdGroupCommit.Outcome.self) { tasks in
            for value in ["a", "b"] {
                tasks.addTask {
                    try await group.commit(
                        EtcdGroupCommit.Write(
                            term: term,
                            compare: [],
                            operations: [.put("g/same", Array(value.utf8))],
                            keys: ["g/same"]
                        )
                    )
                }
            }
            var outcomes: [EtcdGroupCommit.Outcome] = []
            for try await outcome in tasks { outcomes.append(outcome) }
            return outcomes
        }
        #expect(twice.allSatisfy { if case .committed = $0 { true } else { false } })
    }
}
