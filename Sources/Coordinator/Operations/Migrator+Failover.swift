import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation
import Logging

extension Migrator {
    /// A failover (SPEC §6): the same machine, whose kind has no release step, the source being fenced.
    ///
    /// Journaled as `planned → preflight → source-released` (the step's detail says the source is fenced, not asked)
    /// `→ target-adopted → committed`, requested by `failover`. A refused or unanswered preflight changes nothing and
    /// lets the manager try the next target; a failed adopt holds the VM.
    func failover(_ move: FailoverPlan.Move) async -> FailoverOutcome {
        do {
            // The VM as stored now, judged against a view at most a second old: the plan already placed every VM of
            // the dead node with load counted per move, the target's preflight checks the files again, and the commit
            // is conditional on the epoch; rebuilding the view after each of a thousand commits took 150 ms a VM.
            let (vm, view) = try coordinator.judged(move.vm.rawValue, viewMaxAge: .seconds(1))
            guard vm.owner == move.from else {
                return .refused([Reason(code: .operationInProgress, message: "\(vm.name) is owned by \(vm.owner) now")])
            }
            let verdict = StrandRule.check(vm, to: move.target, in: view, mode: .failover)
            guard verdict.allowed else { return .refused(verdict.reasons) }
            let record = try await plan(vm, from: move.from, to: move.target, kind: .failover, requestedBy: "failover")
            coordinator.driving.insert(record.id)
            defer { coordinator.driving.remove(record.id) }
            let result = try await runner.run(
                MigrationMachine(planned: record, settings: runner.settings),
                record: record,
                command: Self.commands(for: record, vm: vm, in: view, handOff: handOff(for: record))
            )
            return Self.failoverOutcome(result)
        } catch {
            logger.error("failover of \(move.vmName) failed: \(error)")
            return .refused([Reason(code: .preflightFailed, message: "the failover could not be journaled: \(error)")])
        }
    }

    /// What the failover manager learns from a run: a refusal lets it try the next target, a failure holds the VM.
    static func failoverOutcome(_ result: MigrationRunner.Result) -> FailoverOutcome {
        switch result.outcome {
        case .committed:
            return .committed
        case .abortedBeforeRelease(let reason, let refusedBy):
            guard let refusedBy, let reasons = result.answers[refusedBy]?.reasons, !reasons.isEmpty else {
                return .refused([Reason(code: .preflightFailed, message: reason)])
            }
            return .refused(
                reasons.map {
                    Reason(code: ReasonCode(rawValue: $0.code) ?? .preflightFailed, message: $0.message, path: $0.path)
                }
            )
        case .abortedAfterRelease(let reason, _):
            return .failed(Reason(code: .adoptFailed, message: reason))
        }
    }
}
