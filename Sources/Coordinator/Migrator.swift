import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import Logging

/// Moves a VM with its whole file set through SPEC §6's journaled state machine:
/// `planned → preflight → source-released → target-adopted → committed`, or `aborted` with a reason.
///
/// Each state is written to the journal before the step it names is acted on. Before `source-released` any failure
/// aborts and the source still owns the VM; after it the migration rolls forward (adopt on the target, or adopt back
/// on the source and abort). Ownership changes only in `commitMigration`'s single transaction.
struct Migrator: Sendable {
    let coordinator: Coordinator
    let logger: Logger

    var store: ClusterStore { coordinator.store }
    var board: CommandBoard { coordinator.board }
    var timeout: Duration { coordinator.config.commandTimeout }

    /// The verdict, then (when allowed) the journaled move.
    ///
    /// Returns the outcome as `migrate --json` prints it.
    func migrate(
        _ vm: VM,
        to target: NodeName,
        view: ClusterView,
        requestedBy: String,
        kind: MigrationRecord.Kind = .migration
    ) async throws -> CheckResponse {
        let verdict = StrandRule.check(vm, to: target, in: view)
        guard verdict.allowed else { return CheckResponse(verdict) }
        let record = try await coordinator.critical.planMigration(
            vm: vm.id,
            source: vm.owner,
            target: target,
            kind: kind,
            requestedBy: requestedBy,
            at: coordinator.now()
        )
        FaultInjection.journaled("planned")
        logger.info(
            "migration planned",
            metadata: [
                "migration": .string(record.id), "vm": .string(vm.name), "source": .string(vm.owner.rawValue),
                "target": .string(target.rawValue), "epoch": .stringConvertible(record.epoch.rawValue),
            ]
        )
        // The move goes on even if the admin's request is cancelled: the journal, not the HTTP request, owns it.
        coordinator.driving.insert(record.id)
        let outcome = Task {
            defer { coordinator.driving.remove(record.id) }
            return try await run(record, vm: vm, view: view)
        }
        return try await outcome.value
    }

    private func run(_ record: MigrationRecord, vm: VM, view: ClusterView) async throws -> CheckResponse {
        let (definition, expected) = VMDefinitionBuilder.definition(of: vm, on: record.target, in: view)
        func command(_ kind: AgentCommand.Kind, withDefinition: Bool) -> AgentCommand {
            AgentCommand(
                id: UUID().uuidString.lowercased(),
                kind: kind,
                migrationId: record.id,
                vmId: vm.id.rawValue,
                vmName: vm.name,
                epoch: record.epoch.rawValue,
                source: record.source.rawValue,
                target: record.target.rawValue,
                definition: withDefinition ? definition : nil,
                expected: withDefinition ? expected : []
            )
        }
        func response(_ state: MigrationRecord.State, reasons: [ReasonJSON] = []) -> CheckResponse {
            CheckResponse(
                vm: vm.name,
                vmId: vm.id.rawValue,
                target: record.target.rawValue,
                allowed: state == .committed,
                reasons: reasons,
                migrationId: record.id,
                state: state.rawValue,
                epoch: record.epoch.rawValue
            )
        }
        func abort(_ reason: String, _ reasons: [ReasonJSON]) async throws -> CheckResponse {
            let encoded = try? JSONEncoder().encode(reasons)
            try await coordinator.critical.abortMigration(
                record.id,
                reason: reason,
                reasons: encoded.map { String(decoding: $0, as: UTF8.self) },
                at: coordinator.now()
            )
            logger.warning("migration aborted", metadata: ["migration": .string(record.id), "reason": .string(reason)])
            return response(.aborted, reasons: reasons)
        }

        // Preflight: the target checks every file itself, through its own mounts.
        try await coordinator.critical.advanceMigration(
            record.id,
            to: .preflight,
            detail: "asking \(record.target) to verify",
            at: coordinator.now()
        )
        FaultInjection.journaled("preflight")
        guard
            let preflight = await board.send(
                command(.preflight, withDefinition: true),
                to: record.target.rawValue,
                timeout: timeout
            )
        else {
            return try await abort(
                "\(record.target)'s agent did not answer the preflight within \(DurationText.format(timeout))",
                []
            )
        }
        guard preflight.ok else {
            let codes = Set(preflight.reasons.map(\.code)).sorted().joined(separator: ", ")
            return try await abort("\(record.target)'s preflight refused: \(codes)", preflight.reasons)
        }

        // Release on the source; the journal says so before the target is asked to adopt.
        guard
            let release = await board.send(
                command(.release, withDefinition: false),
                to: record.source.rawValue,
                timeout: timeout
            )
        else {
            return try await abort("\(record.source)'s agent did not answer the release; it still owns \(vm.name)", [])
        }
        guard release.ok else {
            return try await abort(
                "\(record.source) could not release \(vm.name): \(release.message ?? "no reason given")",
                release.reasons
            )
        }
        try await coordinator.critical.advanceMigration(
            record.id,
            to: .sourceReleased,
            detail: release.message,
            at: coordinator.now()
        )
        FaultInjection.journaled("source-released")
        return try await rollForward(record, adopt: command(.adopt, withDefinition: true), response: response)
    }

    /// After `source-released`: adopt on the target and commit, or adopt back on the source and abort.
    func rollForward(
        _ record: MigrationRecord,
        adopt: AgentCommand,
        response: (MigrationRecord.State, [ReasonJSON]) -> CheckResponse
    ) async throws -> CheckResponse {
        if let adopted = await sendUntilAnswered(adopt, to: record.target), adopted.ok {
            try await coordinator.critical.advanceMigration(
                record.id,
                to: .targetAdopted,
                detail: adopted.message,
                at: coordinator.now()
            )
            FaultInjection.journaled("target-adopted")
            try await coordinator.critical.commitMigration(record.id, at: coordinator.now())
            FaultInjection.journaled("committed")
            logger.notice(
                "migration committed",
                metadata: [
                    "migration": .string(record.id), "vm": .string(record.vmName),
                    "owner": .string(record.target.rawValue), "epoch": .stringConvertible(record.epoch.rawValue),
                ]
            )
            return response(.committed, [])
        }
        if !record.kind.releasesSource {
            // The source is fenced: nothing to adopt back; the failover manager holds the VM.
            let reason = "\(record.target) could not adopt \(record.vmName) after \(record.source) was fenced"
            try await coordinator.critical.abortMigration(
                record.id,
                reason: reason,
                reasons: nil,
                at: coordinator.now()
            )
            logger.error("failover aborted after fencing", metadata: ["migration": .string(record.id)])
            return response(.aborted, [ReasonJSON(code: "adopt-failed", message: reason)])
        }
        var back = adopt
        back.id = UUID().uuidString.lowercased()
        let returned = await sendUntilAnswered(back, to: record.source)
        let reason =
            returned?.ok == true
            ? "\(record.target) could not adopt \(record.vmName); \(record.source) adopted it back"
            : "\(record.target) could not adopt \(record.vmName) and \(record.source) did not adopt it back: "
                + "\(record.source) still owns it in the cluster database; check its hooks"
        try await coordinator.critical.abortMigration(
            record.id,
            reason: reason,
            reasons: nil,
            adoptedBack: returned?.ok == true,
            at: coordinator.now()
        )
        logger.error(
            "migration aborted after release",
            metadata: ["migration": .string(record.id), "reason": .string(reason)]
        )
        return response(.aborted, [ReasonJSON(code: "adopt-failed", message: reason)])
    }

    /// Sends an adopt after `source-released`, and sends it again while the answer means "not yet" rather than
    /// "cannot": no answer within the command timeout, or `not-admitted`.
    ///
    /// Both happen after a coordinator or etcd outage: an agent polls again only after its back-off, and one that
    /// fenced itself refuses everything until the new leader readmits it at its next renewal. Taking either for a
    /// refusal would adopt back on the source a VM the target may already have adopted. After one agent lease the
    /// last answer stands: a target that has not answered by then has fenced itself (SPEC §6), so adopting back on
    /// the source is safe.
    private func sendUntilAnswered(_ command: AgentCommand, to node: NodeName) async -> CommandResult? {
        let clock = ContinuousClock()
        let start = clock.now
        var attempt = command
        while true {
            let answer = await board.send(attempt, to: node.rawValue, timeout: timeout)
            let notYet = answer.map(\.isNotAdmitted) ?? true
            guard notYet, clock.now - start < coordinator.config.leaseTTL else { return answer }
            if answer != nil { try? await Task.sleep(for: .milliseconds(250)) }
            attempt.id = UUID().uuidString.lowercased()
        }
    }

    /// Finishes what a previous run of the coordinator left in the journal (SPEC §6 recovery).
    func recover() async {
        guard let active = try? store.activeMigrations(), !active.isEmpty else { return }
        // Migrations this process is still driving are left to it (leadership lost and proven again meanwhile).
        for record in active where coordinator.driving.insert(record.id) {
            defer { coordinator.driving.remove(record.id) }
            switch record.state {
            case .planned, .preflight:
                try? await coordinator.critical.abortMigration(
                    record.id,
                    reason: "the coordinator restarted before \(record.source) released the VM; nothing changed",
                    reasons: nil,
                    at: coordinator.now()
                )
            case .targetAdopted:
                try? await coordinator.critical.commitMigration(record.id, at: coordinator.now())
            case .sourceReleased:
                guard let snapshot = try? store.snapshot(),
                    let vm = snapshot.vms.first(where: { $0.id == record.vm })
                else { continue }
                let view = ClusterView(snapshot, now: coordinator.now(), settings: coordinator.settings)
                let (definition, expected) = VMDefinitionBuilder.definition(of: vm, on: record.target, in: view)
                let adopt = AgentCommand(
                    id: UUID().uuidString.lowercased(),
                    kind: .adopt,
                    migrationId: record.id,
                    vmId: vm.id.rawValue,
                    vmName: vm.name,
                    epoch: record.epoch.rawValue,
                    source: record.source.rawValue,
                    target: record.target.rawValue,
                    definition: definition,
                    expected: expected
                )
                _ = try? await rollForward(record, adopt: adopt) { state, reasons in
                    CheckResponse(
                        vm: vm.name,
                        vmId: vm.id.rawValue,
                        target: record.target.rawValue,
                        allowed: false,
                        reasons: reasons,
                        state: state.rawValue
                    )
                }
            case .committed, .aborted:
                continue
            }
            logger.notice(
                "recovered migration",
                metadata: ["migration": .string(record.id), "was": .string(record.state.rawValue)]
            )
        }
    }
}
