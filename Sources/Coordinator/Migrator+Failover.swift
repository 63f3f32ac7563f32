import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import Logging

extension Migrator {
    /// A failover (SPEC §6): the migration machinery minus the release step, the source being fenced.
    ///
    /// Journaled as `planned → preflight → source-released` (the step's detail says the source is fenced, not asked)
    /// `→ target-adopted → committed`, requested by `failover`. A refused or unanswered preflight changes nothing and
    /// lets the manager try the next target; a failed adopt holds the VM.
    func failover(_ move: FailoverPlan.Move) async -> FailoverOutcome {
        do {
            let (vm, view) = try coordinator.judged(move.vm.rawValue)
            guard vm.owner == move.from else {
                return .refused([Reason(code: .operationInProgress, message: "\(vm.name) is owned by \(vm.owner) now")])
            }
            let verdict = StrandRule.check(vm, to: move.target, in: view, mode: .failover)
            guard verdict.allowed else { return .refused(verdict.reasons) }
            let record = try await coordinator.critical.planMigration(
                vm: vm.id,
                source: move.from,
                target: move.target,
                kind: .failover,
                requestedBy: "failover",
                at: coordinator.now()
            )
            FaultInjection.journaled("planned")
            coordinator.driving.insert(record.id)
            defer { coordinator.driving.remove(record.id) }
            let (definition, expected) = VMDefinitionBuilder.definition(of: vm, on: move.target, in: view)
            func command(_ kind: AgentCommand.Kind) -> AgentCommand {
                AgentCommand(
                    id: UUID().uuidString.lowercased(),
                    kind: kind,
                    migrationId: record.id,
                    vmId: vm.id.rawValue,
                    vmName: vm.name,
                    epoch: record.epoch.rawValue,
                    source: move.from.rawValue,
                    target: move.target.rawValue,
                    definition: definition,
                    expected: expected
                )
            }
            try await coordinator.critical.advanceMigration(
                record.id,
                to: .preflight,
                detail: "asking \(move.target) to verify",
                at: coordinator.now()
            )
            FaultInjection.journaled("preflight")
            guard let preflight = await board.send(command(.preflight), to: move.target.rawValue, timeout: timeout)
            else {
                let reason =
                    "\(move.target)'s agent did not answer the preflight within \(DurationText.format(timeout))"
                try await coordinator.critical.abortMigration(
                    record.id,
                    reason: reason,
                    reasons: nil,
                    at: coordinator.now()
                )
                return .refused([Reason(code: .preflightFailed, message: reason)])
            }
            guard preflight.ok else {
                let reason =
                    "\(move.target)'s preflight refused: "
                    + Set(preflight.reasons.map(\.code)).sorted().joined(separator: ", ")
                let encoded = (try? JSONEncoder().encode(preflight.reasons)).map { String(decoding: $0, as: UTF8.self) }
                try await coordinator.critical.abortMigration(
                    record.id,
                    reason: reason,
                    reasons: encoded,
                    at: coordinator.now()
                )
                return .refused(
                    preflight.reasons.map {
                        Reason(
                            code: ReasonCode(rawValue: $0.code) ?? .preflightFailed,
                            message: $0.message,
                            path: $0.path
                        )
                    }
                )
            }
            try await coordinator.critical.advanceMigration(
                record.id,
                to: .sourceReleased,
                detail: "\(move.from) is fenced; a failover has no release step",
                at: coordinator.now()
            )
            FaultInjection.journaled("source-released")
            let outcome = try await rollForward(record, adopt: command(.adopt)) { state, reasons in
                CheckResponse(
                    vm: vm.name,
                    vmId: vm.id.rawValue,
                    target: move.target.rawValue,
                    allowed: state == .committed,
                    reasons: reasons,
                    state: state.rawValue
                )
            }
            if outcome.allowed { return .committed }
            return .failed(
                Reason(
                    code: .adoptFailed,
                    message: outcome.reasons.first?.message ?? "\(move.target) could not adopt \(vm.name)"
                )
            )
        } catch {
            logger.error("failover of \(move.vmName) failed: \(error)")
            return .refused([Reason(code: .preflightFailed, message: "the failover could not be journaled: \(error)")])
        }
    }
}
