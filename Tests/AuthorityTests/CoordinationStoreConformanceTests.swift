import ChainModel
import ClusterAuthority
import ClusterEtcd
import ClusterStore
import ClusterTestSupport
import Testing

/// One conformance suite for both `CoordinationStore` implementations (issue 8): the embedded SQLite store and etcd
/// 3.4 (a real member on loopback) must answer every case the same way.
@Suite(.serialized) struct CoordinationStoreConformanceTests {
    @Test(arguments: Backend.allCases)
    func oneLeaderAtATimeAndAnEndedTermCannotWrite(backend: Backend) async throws {
        let fixture = try await AuthorityFixture(backend)
        let store = fixture.authority
        let first = try await fixture.lead()
        #expect(try await store.campaign(as: AuthorityFixture.second, ttl: .seconds(60), at: fixture.now) == nil)
        #expect(try await store.leader(at: fixture.now) == first)
        try await store.renew(first, ttl: .seconds(60), at: fixture.now)

        try await store.resign(first)
        #expect(try await store.leader(at: fixture.now) == nil)
        let second = try #require(
            try await store.campaign(as: AuthorityFixture.second, ttl: .seconds(60), at: fixture.now)
        )
        #expect(second.token > first.token, "every term's token is larger than the last")
        #expect(try await store.leader(at: fixture.now) == second)

        // The old leader: its renewal and every write it tries are refused, and nothing changes.
        #expect(await storeErrorCode { try await store.renew(first, ttl: .seconds(60), at: fixture.now) } == .notLeader)
        let refused = await storeErrorCode {
            _ = try await store.planMigration(
                vm: AuthorityFixture.vmA,
                source: NodeName("node1"),
                target: NodeName("node2"),
                kind: .migration,
                requestedBy: "admin",
                at: fixture.now,
                term: first
            )
        }
        #expect(refused == .notLeader)
        #expect(
            await storeErrorCode {
                try await store.setNodeState(
                    NodeName("node1"),
                    to: .draining,
                    because: "test",
                    actor: "admin",
                    at: fixture.now,
                    term: first
                )
            } == .notLeader
        )
        #expect(
            await storeErrorCode {
                try await store.savePolicy(PlacementPolicy(), for: AuthorityFixture.vmA, term: first)
            } == .notLeader
        )
        #expect(try await store.activeMigrations().isEmpty)
        #expect(try await store.nodeStates()[NodeName("node1")] != .draining)
        #expect(try await store.policies()[AuthorityFixture.vmA] == nil)
        #expect(try await store.campaign(as: AuthorityFixture.first, ttl: .seconds(60), at: fixture.now) == nil)
    }

    @Test(arguments: Backend.allCases)
    func anUnrenewedLeaseEndsTheTerm(backend: Backend) async throws {
        let fixture = try await AuthorityFixture(backend)
        let store = fixture.authority
        let first = try #require(
            try await store.campaign(as: AuthorityFixture.first, ttl: .seconds(1), at: fixture.now)
        )
        #expect(try await store.campaign(as: AuthorityFixture.second, ttl: .seconds(1), at: fixture.now) == nil)
        try await fixture.advance(by: .milliseconds(3500))
        #expect(try await store.leader(at: fixture.now) == nil, "the lease ran out")
        let second = try #require(
            try await store.campaign(as: AuthorityFixture.second, ttl: .seconds(5), at: fixture.now)
        )
        #expect(second.token > first.token)
        #expect(await storeErrorCode { try await store.renew(first, ttl: .seconds(1), at: fixture.now) } == .notLeader)
    }

    @Test(arguments: Backend.allCases)
    func aCheckpointOperationKeepsItsOwnerItsOrderAndItsOwnSteps(backend: Backend) async throws {
        let fixture = try await AuthorityFixture(backend)
        let store = fixture.authority
        let term = try await fixture.lead()
        let now = fixture.now
        let order = #"{"action":"delete","checkpoint":"c1"}"#
        let record = try await store.planMigration(
            vm: AuthorityFixture.vmA,
            source: NodeName("node1"),
            target: NodeName("node1"),
            kind: .checkpointDelete,
            requestedBy: "admin",
            operation: order,
            at: now,
            term: term
        )
        #expect(try await store.migration(id: record.id)?.operation == order)
        try await store.advanceMigration(record.id, to: .preflight, detail: nil, at: now, term: term)
        #expect(
            await storeErrorCode {
                try await store.advanceMigration(record.id, to: .sourceReleased, detail: nil, at: now, term: term)
            } == .invalidTransition,
            "an operation is never released: a move's steps are not its own"
        )
        try await store.advanceMigration(record.id, to: .applying, detail: nil, at: now, term: term)
        #expect(
            await storeErrorCode { try await store.commitMigration(record.id, at: now, term: term) }
                == .invalidTransition,
            "an operation commits only once applied"
        )
        try await store.advanceMigration(record.id, to: .applied, detail: "merged", at: now, term: term)
        try await store.commitMigration(record.id, at: now, term: term)
        #expect(
            try await store.owner(of: AuthorityFixture.vmA) == Ownership(owner: NodeName("node1"), epoch: record.epoch)
        )
        let steps = try await store.migration(id: record.id)?.steps.map(\.state)
        #expect(steps == [.planned, .preflight, .applying, .applied, .committed])
    }

    /// What a write returns for the coordinator's copy is what the backend then holds (etcd), or nothing (embedded,
    /// whose writes land in the coordinator's database): a step, a commit and an abort, and each retried.
    @Test(arguments: Backend.allCases)
    func aWriteReturnsWhatTheBackendHoldsForTheCopy(backend: Backend) async throws {
        let fixture = try await AuthorityFixture(backend)
        let store = fixture.authority
        let term = try await fixture.lead()
        let now = fixture.now
        func held(_ id: String, _ vm: VMID) async throws -> JournalCopy? {
            guard backend == .etcd else { return nil }
            return JournalCopy(record: try #require(try await store.migration(id: id)), ownership: nil)
        }
        func heldWithOwner(_ id: String, _ vm: VMID) async throws -> JournalCopy? {
            guard var copy = try await held(id, vm) else { return nil }
            copy.ownership = try await store.owner(of: vm)
            return copy
        }
        let moved = try await store.planMigration(
            vm: AuthorityFixture.vmA,
            source: NodeName("node1"),
            target: NodeName("node2"),
            kind: .migration,
            requestedBy: "admin",
            at: now,
            term: term
        )
        for step in [MigrationRecord.State.preflight, .sourceReleased, .targetAdopted] {
            let copy = try await store.advanceMigration(moved.id, to: step, detail: "d", at: now, term: term)
            #expect(copy == (try await held(moved.id, AuthorityFixture.vmA)))
        }
        if backend == .etcd {
            // etcd's uncertain writes are retried, and a retry that finds its write made returns what it finds.
            #expect(
                try await store.advanceMigration(moved.id, to: .targetAdopted, detail: "d", at: now, term: term)
                    == (try await held(moved.id, AuthorityFixture.vmA)),
                "a retried step returns the record it finds"
            )
        }
        let committed = try await store.commitMigration(moved.id, at: now, term: term)
        #expect(committed == (try await heldWithOwner(moved.id, AuthorityFixture.vmA)))
        if backend == .etcd {
            #expect(committed?.ownership == Ownership(owner: NodeName("node2"), epoch: moved.epoch))
            #expect(committed?.record.state == .committed)
            #expect(try await store.commitMigration(moved.id, at: now, term: term) == committed, "a retried commit")
        }

        let refused = try await store.planMigration(
            vm: AuthorityFixture.vmB,
            source: NodeName("node2"),
            target: NodeName("node3"),
            kind: .migration,
            requestedBy: "admin",
            at: now,
            term: term
        )
        let aborted = try await store.abortMigration(
            refused.id,
            reason: "refused",
            reasons: nil,
            adoptedBack: false,
            at: now,
            term: term
        )
        #expect(aborted == (try await heldWithOwner(refused.id, AuthorityFixture.vmB)))
        if backend == .etcd { #expect(aborted?.record.state == .aborted) }
    }

    @Test(arguments: Backend.allCases)
    func aCommittedMigrationMovesOwnerAndEpochOnce(backend: Backend) async throws {
        let fixture = try await AuthorityFixture(backend)
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
        #expect(record.epoch == Epoch(2) && record.state == .planned)
        #expect(record.steps.map(\.detail) == ["epoch 2 reserved"])
        let again = await storeErrorCode {
            _ = try await store.planMigration(
                vm: AuthorityFixture.vmA,
                source: NodeName("node1"),
                target: NodeName("node3"),
                kind: .migration,
                requestedBy: "admin",
                at: now,
                term: term
            )
        }
        #expect(again == .conflict, "one migration per VM at a time")
        #expect(try await store.activeMigrations().map(\.id) == [record.id])
        // A step the state machine does not have is refused.
        #expect(
            await storeErrorCode {
                try await store.advanceMigration(record.id, to: .targetAdopted, detail: nil, at: now, term: term)
            } == .invalidTransition
        )
        #expect(
            await storeErrorCode { try await store.commitMigration(record.id, at: now, term: term) }
                == .invalidTransition
        )
        for state in [MigrationRecord.State.preflight, .sourceReleased, .targetAdopted] {
            try await store.advanceMigration(record.id, to: state, detail: "to \(state.rawValue)", at: now, term: term)
        }
        #expect(try await store.owners()[AuthorityFixture.vmA] == Ownership(owner: NodeName("node1"), epoch: .initial))
        try await store.commitMigration(record.id, at: now + .seconds(1), term: term)

        #expect(try await store.owners()[AuthorityFixture.vmA] == Ownership(owner: NodeName("node2"), epoch: Epoch(2)))
        #expect(try await store.owners()[AuthorityFixture.vmB] == Ownership(owner: NodeName("node2"), epoch: .initial))
        #expect(try await store.activeMigrations().isEmpty)
        let committed = try #require(try await store.migration(id: record.id))
        #expect(committed.state == .committed)
        #expect(committed.steps.map(\.state) == [.planned, .preflight, .sourceReleased, .targetAdopted, .committed])
        #expect(committed.steps.last?.detail == "owner node2, epoch 2")
        #expect(
            await storeErrorCode {
                try await store.abortMigration(
                    record.id,
                    reason: "late",
                    reasons: nil,
                    adoptedBack: false,
                    at: now,
                    term: term
                )
            } == .invalidTransition,
            "a committed migration stays committed"
        )
        #expect(try await store.history(vm: AuthorityFixture.vmA, limit: 10).map(\.id) == [record.id])
        #expect(try await store.history(vm: AuthorityFixture.vmB, limit: 10).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func anAbortedMigrationUsesUpItsEpochAndMovesNothing(backend: Backend) async throws {
        let fixture = try await AuthorityFixture(backend)
        let store = fixture.authority
        let term = try await fixture.lead()
        var now = fixture.now
        func plan() async throws -> MigrationRecord {
            try await store.planMigration(
                vm: AuthorityFixture.vmA,
                source: NodeName("node1"),
                target: NodeName("node2"),
                kind: .failover,
                requestedBy: "failover",
                at: now,
                term: term
            )
        }
        let first = try await plan()
        try await store.abortMigration(
            first.id,
            reason: "preflight refused",
            reasons: "[]",
            adoptedBack: false,
            at: now,
            term: term
        )
        now = now + .seconds(1)
        let second = try await plan()
        #expect(second.epoch == Epoch(3), "an aborted migration's epoch is never used again")
        try await store.advanceMigration(second.id, to: .preflight, detail: nil, at: now, term: term)
        try await store.advanceMigration(second.id, to: .sourceReleased, detail: nil, at: now, term: term)
        try await store.abortMigration(
            second.id,
            reason: "adopt failed",
            reasons: nil,
            adoptedBack: true,
            at: now,
            term: term
        )
        #expect(
            try await store.owners()[AuthorityFixture.vmA] == Ownership(owner: NodeName("node1"), epoch: Epoch(3)),
            "the source adopted the VM again at the migration's epoch"
        )
        let aborted = try #require(try await store.migration(id: first.id))
        #expect(aborted.state == .aborted && aborted.abortReason == "preflight refused" && aborted.reasons == "[]")
        #expect(try await store.history(vm: nil, limit: 10).map(\.id) == [second.id, first.id], "newest first")
        #expect(try await store.history(vm: nil, limit: 1).map(\.id) == [second.id])
        #expect(try await plan().epoch == Epoch(4))
    }

    @Test(arguments: Backend.allCases)
    func plansOfMovedOrUnknownVMsAreRefused(backend: Backend) async throws {
        let fixture = try await AuthorityFixture(backend)
        let store = fixture.authority
        let term = try await fixture.lead()
        let wrongSource = await storeErrorCode {
            _ = try await store.planMigration(
                vm: AuthorityFixture.vmB,
                source: NodeName("node1"),
                target: NodeName("node3"),
                kind: .migration,
                requestedBy: "admin",
                at: fixture.now,
                term: term
            )
        }
        #expect(wrongSource == .conflict, "vm-b is node2's")
        let unknown = await storeErrorCode {
            _ = try await store.planMigration(
                vm: VMID("vm-unknown"),
                source: NodeName("node1"),
                target: NodeName("node3"),
                kind: .migration,
                requestedBy: "admin",
                at: fixture.now,
                term: term
            )
        }
        #expect(unknown == .danglingReference)
        #expect(
            await storeErrorCode {
                try await store.advanceMigration(
                    "no-such-migration",
                    to: .preflight,
                    detail: nil,
                    at: fixture.now,
                    term: term
                )
            } == .danglingReference
        )
        #expect(try await store.migration(id: "no-such-migration") == nil)
        // A second claim keeps the first owner.
        let claimed = try await store.claim(
            AuthorityFixture.vmA,
            name: "vm-a",
            owner: NodeName("node3"),
            epoch: Epoch(7),
            reserved: Epoch(7),
            term: term
        )
        #expect(claimed == Ownership(owner: NodeName("node1"), epoch: .initial))
    }

    @Test(arguments: Backend.allCases)
    func changesSinceARevisionIncludeEveryLaterWrite(backend: Backend) async throws {
        let fixture = try await AuthorityFixture(backend)
        let store = fixture.authority
        let term = try await fixture.lead()
        let everything = try await store.changes(since: nil)
        #expect(Set(everything.owners.keys) == [AuthorityFixture.vmA, AuthorityFixture.vmB])
        try await store.savePolicy(PlacementPolicy(priority: .low), for: AuthorityFixture.vmB, term: term)
        let record = try await store.planMigration(
            vm: AuthorityFixture.vmA,
            source: NodeName("node1"),
            target: NodeName("node3"),
            kind: .migration,
            requestedBy: "admin",
            at: fixture.now,
            term: term
        )
        let later = try await store.changes(since: everything.revision)
        #expect(later.policies[AuthorityFixture.vmB]?.priority == .low)
        #expect(later.journal.map(\.id).contains(record.id))
        #expect(later.owners[AuthorityFixture.vmA] == Ownership(owner: NodeName("node1"), epoch: .initial))
        if backend == .etcd {
            // etcd answers with only what changed: vm-b's owner record was not written again.
            #expect(later.owners[AuthorityFixture.vmB] == nil && later.journal.count == 1)
            #expect(try await store.changes(since: later.revision).isEmpty)
        }
    }

    @Test(arguments: Backend.allCases)
    func nodeStatesAndPoliciesAreKept(backend: Backend) async throws {
        let fixture = try await AuthorityFixture(backend)
        let store = fixture.authority
        let term = try await fixture.lead()
        try await store.setNodeState(
            NodeName("node2"),
            to: .draining,
            because: "maintenance",
            actor: "admin",
            at: fixture.now,
            term: term
        )
        try await store.setNodeState(
            NodeName("node3"),
            to: .fenced,
            because: "fence command",
            actor: "failover",
            at: fixture.now,
            term: term
        )
        let states = try await store.nodeStates()
        #expect(states[NodeName("node2")] == .draining && states[NodeName("node3")] == .fenced)
        try await store.setNodeState(
            NodeName("node2"),
            to: .up,
            because: "resumed",
            actor: "admin",
            at: fixture.now,
            term: term
        )
        #expect(try await store.nodeStates()[NodeName("node2")] == .up)

        let policy = PlacementPolicy(
            highlyAvailable: true,
            possibleOwners: [NodeName("node1"), NodeName("node2")],
            preferredOwners: [NodeName("node2")],
            antiAffinityClass: "sql",
            priority: .high,
            threshold: FailoverThreshold(maxFailovers: 2, period: .seconds(3600)),
            isolation: .stop
        )
        try await store.savePolicy(policy, for: AuthorityFixture.vmA, term: term)
        #expect(try await store.policies() == [AuthorityFixture.vmA: policy])
        #expect(try await store.classes()["sql"] == false, "a class a policy names exists, soft")
        try await store.saveClass(AntiAffinityClass(name: "sql", enforced: true), term: term)
        try await store.saveClass(AntiAffinityClass(name: "web", enforced: true), term: term)
        #expect(try await store.classes() == ["sql": true, "web": true])
        var changed = policy
        changed.priority = .low
        try await store.savePolicy(changed, for: AuthorityFixture.vmA, term: term)
        #expect(try await store.policies()[AuthorityFixture.vmA]?.priority == .low)

        // An isolation response this build does not know (a newer coordinator's record) reads as keep-running, the
        // response that stops nothing; it never makes reading the policies fail.
        if let member = fixture.etcd {
            let record =
                #"{"highlyAvailable":true,"isolation":"hibernate","maxFailovers":3,"#
                + #""periodMilliseconds":21600000,"possibleOwners":[],"preferredOwners":[],"priority":"high"}"#
            _ = try await EtcdClient(endpoints: [member.clientURL]).put(
                "chainkeeper/test/policy/" + AuthorityFixture.vmB.rawValue,
                Array(record.utf8)
            )
            let read = try await store.policies()[AuthorityFixture.vmB]
            #expect(read?.isolation == .keepRunning && read?.priority == .high)
        }
    }
}

/// Moving a cluster from the embedded backend to etcd (issue 8): epochs, journal, node states and policies carry over
/// unchanged, and the next epoch etcd reserves is the one the embedded store would have.
@Suite struct BackendMoveTests {
    @Test func anEmbeddedClusterSeedsEtcdWithItsEpochsAndJournalUnchanged() async throws {
        let embedded = try await AuthorityFixture(.embedded)
        let term = try await embedded.lead()
        let local = embedded.authority
        let now = embedded.now
        let moved = try await local.planMigration(
            vm: AuthorityFixture.vmA,
            source: NodeName("node1"),
            target: NodeName("node2"),
            kind: .migration,
            requestedBy: "admin",
            at: now,
            term: term
        )
        for state in [MigrationRecord.State.preflight, .sourceReleased, .targetAdopted] {
            try await local.advanceMigration(moved.id, to: state, detail: nil, at: now, term: term)
        }
        try await local.commitMigration(moved.id, at: now, term: term)
        let refused = try await local.planMigration(
            vm: AuthorityFixture.vmB,
            source: NodeName("node2"),
            target: NodeName("node1"),
            kind: .migration,
            requestedBy: "admin",
            at: now + .seconds(1),
            term: term
        )
        try await local.abortMigration(
            refused.id,
            reason: "refused",
            reasons: nil,
            adoptedBack: false,
            at: now,
            term: term
        )
        try await local.setNodeState(
            NodeName("node3"),
            to: .draining,
            because: "work",
            actor: "admin",
            at: now,
            term: term
        )
        try await local.savePolicy(PlacementPolicy(priority: .high), for: AuthorityFixture.vmB, term: term)
        try await local.saveClass(AntiAffinityClass(name: "web", enforced: true), term: term)
        let store = try #require((local as? EmbeddedCoordinationStore)?.store)
        let state = try CriticalState(of: store)

        let etcd = try await AuthorityFixture(.etcd)
        let remote = etcd.authority
        let leader = try #require(
            try await remote.campaign(as: AuthorityFixture.first, ttl: .seconds(60), at: etcd.now)
        )
        #expect(try await remote.seed(state, term: leader) == 2 + 2 + 1 + 1 + 1)
        #expect(try await remote.seed(state, term: leader) == 0, "a second seed keeps what is there")
        #expect(try await remote.owners() == (try await local.owners()))
        #expect(try await remote.history(vm: nil, limit: 10) == (try await local.history(vm: nil, limit: 10)))
        #expect(try await remote.nodeStates() == [NodeName("node3"): .draining])
        #expect(try await remote.policies() == (try await local.policies()))
        #expect(try await remote.classes() == ["web": true])
        // vm-b's epoch 2 was used by the aborted migration: etcd reserves 3 next, as the embedded store would.
        let next = try await remote.planMigration(
            vm: AuthorityFixture.vmB,
            source: NodeName("node2"),
            target: NodeName("node3"),
            kind: .migration,
            requestedBy: "admin",
            at: now,
            term: leader
        )
        #expect(next.epoch == Epoch(3))
        // A batch mixing keys already there with a new one (the seed's write-without-reading fails on the first):
        // only the new one is written, the others kept as they are.
        var grown = state
        grown.claims[VMID("vm-c")] = CriticalState.Claim(
            name: "vm-c",
            ownership: Ownership(owner: NodeName("node1"), epoch: .initial),
            reserved: .initial
        )
        let owners = try await remote.owners()
        #expect(try await remote.seed(grown, term: leader) == 1)
        var expected = owners
        expected[VMID("vm-c")] = Ownership(owner: NodeName("node1"), epoch: .initial)
        #expect(try await remote.owners() == expected)
    }
}
