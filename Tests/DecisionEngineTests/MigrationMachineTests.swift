import ChainModel
import DecisionEngine
import Testing

/// The migration journal's state machine (issue 21): every path of SPEC §6, in virtual time.
@Suite struct MigrationMachineTests {
    typealias Machine = MigrationMachine
    static let settings = Machine.Settings(commandTimeout: .seconds(90), leaseTTL: .seconds(10))
    static let ok = Machine.Answer(ok: true, message: "done")
    static let notAdmitted = Machine.Answer(ok: false, notAdmitted: true, message: "no lease")
    static let refused = Machine.Answer(
        ok: false,
        message: "hook exited 1",
        reasonCodes: ["file-missing", "chain-broken"]
    )

    static func record(_ kind: MigrationRecord.Kind, at state: MigrationRecord.State = .planned) -> MigrationRecord {
        MigrationRecord(
            id: "m1",
            vm: VMID("vm1"),
            vmName: "web01",
            kind: kind,
            source: NodeName("a"),
            target: NodeName(kind.isOperation ? "a" : "b"),
            epoch: Epoch(2),
            state: state,
            requestedBy: "admin",
            createdAt: Timestamp(millisecondsSinceEpoch: 0),
            updatedAt: Timestamp(millisecondsSinceEpoch: 0),
            steps: []
        )
    }

    static func at(_ seconds: Double) -> MonotonicTime { MonotonicTime(milliseconds: Int64(seconds * 1000)) }

    @Test func aMigrationJournalsEachStateBeforeActingAndCommits() {
        var machine = Machine(planned: Self.record(.migration), settings: Self.settings)
        #expect(
            machine.start(at: Self.at(0)) == [
                .journal(.preflight, detail: "asking b to verify"), .send(.preflight, to: NodeName("b"), after: .zero),
            ]
        )
        #expect(machine.answered(Self.ok, at: Self.at(1)) == [.send(.release, to: NodeName("a"), after: .zero)])
        #expect(
            machine.answered(Self.ok, at: Self.at(2)) == [
                .journal(.sourceReleased, detail: "done"), .send(.adopt, to: NodeName("b"), after: .zero),
            ]
        )
        #expect(
            machine.answered(Self.ok, at: Self.at(3)) == [
                .journal(.targetAdopted, detail: "done"), .commit, .finish(.committed),
            ]
        )
        #expect(machine.isFinished && machine.state == .committed)
    }

    @Test func aFailoverHasNoReleaseStep() {
        var machine = Machine(planned: Self.record(.failover), settings: Self.settings)
        _ = machine.start(at: Self.at(0))
        #expect(
            machine.answered(Self.ok, at: Self.at(1)) == [
                .journal(.sourceReleased, detail: "a is fenced; a failover has no release step"),
                .send(.adopt, to: NodeName("b"), after: .zero),
            ]
        )
    }

    @Test func beforeTheReleaseEveryFailureAbortsAndNothingChanged() {
        var silent = Machine(planned: Self.record(.drain), settings: Self.settings)
        _ = silent.start(at: Self.at(0))
        let reason = "b's agent did not answer the preflight within 1m30s"
        #expect(
            silent.answered(nil, at: Self.at(90)) == [
                .abort(reason: reason, reasonsOf: nil, adoptedBack: false),
                .finish(.abortedBeforeRelease(reason: reason, refusedBy: nil)),
            ]
        )
        var refusing = Machine(planned: Self.record(.migration), settings: Self.settings)
        _ = refusing.start(at: Self.at(0))
        let refusal = "b's preflight refused: chain-broken, file-missing"
        #expect(
            refusing.answered(Self.refused, at: Self.at(1)) == [
                .abort(reason: refusal, reasonsOf: .preflight, adoptedBack: false),
                .finish(.abortedBeforeRelease(reason: refusal, refusedBy: .preflight)),
            ]
        )
        var unreleased = Machine(planned: Self.record(.migration), settings: Self.settings)
        _ = unreleased.start(at: Self.at(0))
        _ = unreleased.answered(Self.ok, at: Self.at(1))
        #expect(
            unreleased.answered(Self.refused, at: Self.at(2)).last
                == .finish(
                    .abortedBeforeRelease(reason: "a could not release web01: hook exited 1", refusedBy: .release)
                )
        )
        #expect(unreleased.state == .aborted)
    }

    /// After the release, "not yet" (no answer, `not-admitted`) is sent again for as long as nothing proves the target
    /// does not run the VM, however long that is: an isolated target is waited for (SPEC §6, "Unanswered targets").
    @Test func aTargetThatDoesNotAnswerIsWaitedForUntilItIsProvenDown() {
        var machine = Machine(planned: Self.record(.migration), settings: Self.settings)
        _ = machine.start(at: Self.at(0))
        _ = machine.answered(Self.ok, at: Self.at(1))
        _ = machine.answered(Self.ok, at: Self.at(2))  // released; adopt sent at 2 s
        #expect(
            machine.answered(Self.notAdmitted, at: Self.at(3)) == [
                .send(.adopt, to: NodeName("b"), after: .milliseconds(250))
            ]
        )
        #expect(machine.answered(nil, at: Self.at(8)) == [.send(.adopt, to: NodeName("b"), after: .zero)])
        // Ten leases later, with no evidence, still waiting: adopting back now could run the VM twice.
        #expect(machine.answered(nil, at: Self.at(100)) == [.send(.adopt, to: NodeName("b"), after: .zero)])
        #expect(machine.state == .sourceReleased)
        // Declared down on positive evidence: the source adopts the VM back.
        #expect(
            machine.answered(nil, at: Self.at(101), target: .declaredDown) == [
                .send(.adoptBack, to: NodeName("a"), after: .zero)
            ]
        )
        let reason = "b could not adopt web01; a adopted it back"
        #expect(
            machine.answered(Self.ok, at: Self.at(102)) == [
                .abort(reason: reason, reasonsOf: nil, adoptedBack: true),
                .finish(.abortedAfterRelease(reason: reason, adoptedBack: true)),
            ]
        )

        // A target whose record lists the VM stopped at this epoch is given up on as well.
        var stopped = Machine(planned: Self.record(.migration), settings: Self.settings)
        _ = stopped.start(at: Self.at(0))
        _ = stopped.answered(Self.ok, at: Self.at(1))
        _ = stopped.answered(Self.ok, at: Self.at(2))
        #expect(
            stopped.answered(Self.notAdmitted, at: Self.at(3), target: .listsStopped) == [
                .send(.adoptBack, to: NodeName("a"), after: .zero)
            ]
        )
    }

    @Test func anAdoptAnsweredWithinTheLeaseCommits() {
        var machine = Machine(planned: Self.record(.migration), settings: Self.settings)
        _ = machine.start(at: Self.at(0))
        _ = machine.answered(Self.ok, at: Self.at(1))
        _ = machine.answered(Self.ok, at: Self.at(2))
        _ = machine.answered(Self.notAdmitted, at: Self.at(3))
        _ = machine.answered(Self.notAdmitted, at: Self.at(9))
        #expect(machine.answered(Self.ok, at: Self.at(11.9)).last == .finish(.committed))
    }

    @Test func aRefusedAdoptIsAdoptedBackAtOnceAndAFailoverIsHeld() {
        var migration = Machine(planned: Self.record(.migration), settings: Self.settings)
        _ = migration.start(at: Self.at(0))
        _ = migration.answered(Self.ok, at: Self.at(1))
        _ = migration.answered(Self.ok, at: Self.at(2))
        #expect(
            migration.answered(Self.refused, at: Self.at(3)) == [.send(.adoptBack, to: NodeName("a"), after: .zero)]
        )
        let lost =
            "b could not adopt web01 and a did not adopt it back: a still owns it in the cluster database; check its hooks"
        #expect(
            migration.answered(Self.refused, at: Self.at(4)).last
                == .finish(.abortedAfterRelease(reason: lost, adoptedBack: false))
        )

        var failover = Machine(planned: Self.record(.failover), settings: Self.settings)
        _ = failover.start(at: Self.at(0))
        _ = failover.answered(Self.ok, at: Self.at(1))
        let held = "b could not adopt web01 after a was fenced"
        #expect(failover.answered(nil, at: Self.at(5)) == [.send(.adopt, to: NodeName("b"), after: .zero)])
        #expect(
            failover.answered(nil, at: Self.at(11.5), target: .declaredDown) == [
                .abort(reason: held, reasonsOf: nil, adoptedBack: false),
                .finish(.abortedAfterRelease(reason: held, adoptedBack: false)),
            ]
        )
    }

    @Test func recoveryAbortsBeforeTheReleaseCommitsAnAdoptionAndAdoptsAgainAfterTheRelease() {
        for state: MigrationRecord.State in [.planned, .preflight] {
            var machine = Machine(recovering: Self.record(.migration, at: state), settings: Self.settings)
            #expect(
                machine.start(at: Self.at(0)).last
                    == .finish(
                        .abortedBeforeRelease(
                            reason: "the coordinator restarted before a released the VM; nothing changed",
                            refusedBy: nil
                        )
                    )
            )
        }
        var adopted = Machine(recovering: Self.record(.migration, at: .targetAdopted), settings: Self.settings)
        #expect(adopted.start(at: Self.at(0)) == [.commit, .finish(.committed)])
        var released = Machine(recovering: Self.record(.failover, at: .sourceReleased), settings: Self.settings)
        #expect(released.start(at: Self.at(0)) == [.send(.adopt, to: NodeName("b"), after: .zero)])
        #expect(released.answered(Self.ok, at: Self.at(1)).last == .finish(.committed))
        var finished = Machine(recovering: Self.record(.migration, at: .committed), settings: Self.settings)
        #expect(finished.start(at: Self.at(0)).isEmpty)
    }

    @Test func anOperationIsVerifiedAppliedAndCommittedOnTheOwner() {
        var machine = Machine(planned: Self.record(.checkpointCreate), settings: Self.settings)
        #expect(
            machine.start(at: Self.at(0)) == [
                .journal(.preflight, detail: "asking a to verify"), .send(.preflight, to: NodeName("a"), after: .zero),
            ]
        )
        #expect(
            machine.answered(Self.ok, at: Self.at(1)) == [
                .journal(.applying, detail: "asking a to apply the checkpoint-create"),
                .send(.apply, to: NodeName("a"), after: .zero),
            ]
        )
        // No answer within the command timeout (a long merge): sent again, the agent joins the run under way.
        #expect(machine.answered(nil, at: Self.at(91)) == [.send(.apply, to: NodeName("a"), after: .zero)])
        #expect(
            machine.answered(Self.notAdmitted, at: Self.at(92))
                == [.send(.apply, to: NodeName("a"), after: .milliseconds(250))]
        )
        #expect(
            machine.answered(Self.ok, at: Self.at(93)) == [
                .journal(.applied, detail: "done"), .commit, .finish(.committed),
            ]
        )
    }

    @Test func anOperationAbortsOnARefusalAFailureOrAnOwnerDeclaredDown() {
        var refused = Machine(planned: Self.record(.checkpointDelete), settings: Self.settings)
        _ = refused.start(at: Self.at(0))
        #expect(
            refused.answered(Self.refused, at: Self.at(1)).last
                == .finish(
                    .abortedBeforeRelease(
                        reason: "a's preflight refused: chain-broken, file-missing",
                        refusedBy: .preflight
                    )
                )
        )
        var failed = Machine(planned: Self.record(.checkpointRevert), settings: Self.settings)
        _ = failed.start(at: Self.at(0))
        _ = failed.answered(Self.ok, at: Self.at(1))
        #expect(
            failed.answered(Self.refused, at: Self.at(2)).last
                == .finish(
                    .abortedBeforeRelease(
                        reason: "a could not apply the checkpoint-revert: hook exited 1",
                        refusedBy: .apply
                    )
                )
        )
        var stopped = Machine(planned: Self.record(.checkpointDelete), settings: Self.settings)
        _ = stopped.start(at: Self.at(0))
        _ = stopped.answered(Self.ok, at: Self.at(1))
        #expect(
            stopped.answered(nil, at: Self.at(91), target: .listsStopped) == [
                .send(.apply, to: NodeName("a"), after: .zero)
            ],
            "a VM listed stopped is no reason to give up on its operation"
        )
        var lost = Machine(planned: Self.record(.checkpointDelete), settings: Self.settings)
        _ = lost.start(at: Self.at(0))
        _ = lost.answered(Self.ok, at: Self.at(1))
        let actions = lost.answered(nil, at: Self.at(91), target: .declaredDown)
        #expect(actions.count == 2)
        guard case .finish(.abortedAfterRelease(let reason, adoptedBack: false)) = actions.last else {
            Issue.record("\(actions)")
            return
        }
        #expect(reason.contains("a went down before it answered the checkpoint-delete"))
    }

    @Test func recoveryAbortsAnOperationNotYetAppliedAndFinishesOneThatWas() {
        for state: MigrationRecord.State in [.planned, .preflight] {
            var machine = Machine(recovering: Self.record(.checkpointCreate, at: state), settings: Self.settings)
            #expect(
                machine.start(at: Self.at(0)).last.map {
                    if case .finish(.abortedBeforeRelease) = $0 { true } else { false }
                } == true
            )
        }
        var applying = Machine(recovering: Self.record(.checkpointDelete, at: .applying), settings: Self.settings)
        #expect(applying.start(at: Self.at(0)) == [.send(.apply, to: NodeName("a"), after: .zero)])
        #expect(applying.answered(Self.ok, at: Self.at(1)).last == .finish(.committed))
        var applied = Machine(recovering: Self.record(.checkpointRevert, at: .applied), settings: Self.settings)
        #expect(applied.start(at: Self.at(0)) == [.commit, .finish(.committed)])
    }

    @Test func anAnswerNobodyWaitsForChangesNothing() {
        var machine = Machine(planned: Self.record(.migration), settings: Self.settings)
        #expect(machine.answered(Self.ok, at: Self.at(0)).isEmpty, "not started")
        _ = machine.start(at: Self.at(0))
        _ = machine.answered(nil, at: Self.at(90))
        #expect(machine.answered(Self.ok, at: Self.at(91)).isEmpty, "finished")
        #expect(machine.state == .aborted)
    }
}
