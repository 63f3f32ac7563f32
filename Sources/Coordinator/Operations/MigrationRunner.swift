import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation
import Logging

/// Carries out a `MigrationMachine`'s actions: journal writes through `CriticalWrites`, commands to agents through the
/// `CommandBoard`, on this process's monotonic clock.
///
/// Every decision is the machine's; this only performs them.
struct MigrationRunner: Sendable {
    let critical: CriticalWrites
    let board: CommandBoard
    let settings: MigrationMachine.Settings
    let now: @Sendable () -> Timestamp
    /// What is known about a target that has not adopted yet (SPEC §6, "Unanswered targets").
    let targetEvidence: @Sendable (NodeName, VMID, Epoch) async -> MigrationMachine.TargetEvidence
    /// Whether the node is declared down or fenced now: an operation's owner that is stops being waited for.
    var declaredDown: @Sendable (NodeName) -> Bool = { _ in false }
    let logger: Logger

    /// How a run ended, and every agent's last answer to each command (the preflight's reasons go into the answer to
    /// an administrator and into the failover manager's memory).
    struct Result: Sendable {
        var outcome: MigrationMachine.Outcome
        var answers: [MigrationMachine.Command: CommandResult]
    }

    /// Runs `machine` to its end; `command` makes the agent command for each step (a new id each time).
    func run(
        _ machine: consuming MigrationMachine,
        record: MigrationRecord,
        command: (MigrationMachine.Command) -> AgentCommand
    ) async throws -> Result {
        let origin = ContinuousClock.now
        func monotonic() -> MonotonicTime {
            MonotonicTime(milliseconds: (ContinuousClock.now - origin).wholeMilliseconds)
        }
        var answers: [MigrationMachine.Command: CommandResult] = [:]
        var actions = machine.start(at: monotonic())
        while !actions.isEmpty {
            var next: [MigrationMachine.Action] = []
            for action in actions {
                switch action {
                case .journal(let state, let detail):
                    try await critical.advanceMigration(record.id, to: state, detail: detail, at: now())
                    FaultInjection.journaled(state.rawValue)
                case .send(let step, let node, let after):
                    if after > .zero { try? await Task.sleep(for: after) }
                    // A standby neither reaches its agents (their polls and answers are refused) nor may journal:
                    // the run ends here and the leader's recovery takes the migration from its journaled state.
                    try critical.requireLeadership()
                    let sent = command(step)
                    // An operation's owner declared down meanwhile will not answer (it fences itself): its command
                    // expires then, not after the whole timeout, so the VM's failover is not held up by it.
                    let watcher =
                        record.kind.isOperation
                        ? Task { [board, declaredDown] in
                            while !Task.isCancelled {
                                try? await Task.sleep(for: .milliseconds(250))
                                if declaredDown(node) {
                                    await board.abandon(sent.id, node: node.rawValue)
                                    return
                                }
                            }
                        } : nil
                    let answer = await board.send(sent, to: node.rawValue, timeout: settings.commandTimeout)
                    watcher?.cancel()
                    if let answer { answers[step] = answer }
                    let notYet = (step == .adopt || step == .apply) && (answer == nil || answer?.isNotAdmitted == true)
                    let evidence = notYet ? await targetEvidence(node, record.vm, record.epoch) : .none
                    next = machine.answered(answer.map(Self.answer), at: monotonic(), target: evidence)
                case .commit:
                    try await critical.commitMigration(record.id, at: now())
                    FaultInjection.journaled(MigrationRecord.State.committed.rawValue)
                    logger.notice(
                        "migration committed",
                        metadata: [
                            "migration": .string(record.id), "vm": .string(record.vmName),
                            "owner": .string(record.target.rawValue),
                            "epoch": .stringConvertible(record.epoch.rawValue),
                        ]
                    )
                case .abort(let reason, let reasonsOf, let adoptedBack):
                    let reasons = reasonsOf.flatMap { answers[$0]?.reasons }
                    try await critical.abortMigration(
                        record.id,
                        reason: reason,
                        reasons: reasons.flatMap { try? JSONEncoder().encode($0) }.map {
                            String(decoding: $0, as: UTF8.self)
                        },
                        adoptedBack: adoptedBack,
                        at: now()
                    )
                case .finish(let outcome):
                    log(outcome, of: record)
                    return Result(outcome: outcome, answers: answers)
                }
            }
            actions = next
        }
        return Result(
            outcome: .abortedBeforeRelease(reason: "the migration ended without an outcome", refusedBy: nil),
            answers: answers
        )
    }

    private func log(_ outcome: MigrationMachine.Outcome, of record: MigrationRecord) {
        let metadata: Logger.Metadata = [
            "migration": .string(record.id), "kind": .string(record.kind.rawValue),
            "reason": .string(outcome.reason ?? ""),
        ]
        switch outcome {
        case .committed: break
        case .abortedBeforeRelease: logger.warning("migration aborted", metadata: metadata)
        case .abortedAfterRelease: logger.error("migration aborted after release", metadata: metadata)
        }
    }

    static func answer(_ result: CommandResult) -> MigrationMachine.Answer {
        MigrationMachine.Answer(
            ok: result.ok,
            notAdmitted: result.isNotAdmitted,
            message: result.message,
            reasonCodes: result.reasons.map(\.code)
        )
    }
}
