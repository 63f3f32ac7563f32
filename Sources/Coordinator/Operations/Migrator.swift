import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import Logging

/// Moves a VM with its whole file set through SPEC §6's journaled state machine (`MigrationMachine`, in the core): an
/// administrator's migration or a drain here, a failover in `Migrator+Failover`, a previous run's unfinished migrations
/// in `recover`.
///
/// This type only judges, plans (reserving the epoch) and maps outcomes to answers; the machine decides every step and
/// `MigrationRunner` carries it out.
struct Migrator: Sendable {
    let coordinator: Coordinator
    let logger: Logger

    var store: ClusterStore { coordinator.store }

    var runner: MigrationRunner {
        MigrationRunner(
            critical: coordinator.critical,
            board: coordinator.board,
            settings: MigrationMachine.Settings(
                commandTimeout: coordinator.config.commandTimeout,
                leaseTTL: coordinator.config.leaseTTL
            ),
            now: coordinator.now,
            targetEvidence: { [coordinator] node, vm, epoch in
                await coordinator.evidence(about: node, for: vm, at: epoch)
            },
            declaredDown: { [coordinator] node in
                guard let state = try? coordinator.store.nodeState(named: node) else { return false }
                return state == .down || state == .fenced
            },
            logger: logger
        )
    }

    /// The verdict, then (when allowed) the journaled move.
    ///
    /// Returns the outcome as `migrate --json` prints it.
    func migrate(
        _ vm: VM,
        to target: NodeName,
        view: ClusterView,
        requestedBy: String,
        kind: MigrationRecord.Kind = .migration,
        offline: Bool = false
    ) async throws -> CheckResponse {
        let verdict = StrandRule.check(vm, to: target, in: view)
        guard verdict.allowed else { return CheckResponse(verdict) }
        let record = try await plan(vm, from: vm.owner, to: target, kind: kind, requestedBy: requestedBy)
        // The move goes on even if the admin's request is cancelled: the journal, not the HTTP request, owns it.
        coordinator.driving.insert(record.id)
        let outcome = Task {
            defer { coordinator.driving.remove(record.id) }
            let result = try await runner.run(
                MigrationMachine(planned: record, settings: runner.settings),
                record: record,
                command: Self.commands(for: record, vm: vm, in: view, handOff: handOff(for: record, offline: offline))
            )
            return Self.response(result, record: record)
        }
        return try await outcome.value
    }

    /// Journals `planned`, reserving the VM's next epoch.
    func plan(
        _ vm: VM,
        from source: NodeName,
        to target: NodeName,
        kind: MigrationRecord.Kind,
        requestedBy: String
    ) async throws -> MigrationRecord {
        let record = try await coordinator.critical.planMigration(
            vm: vm.id,
            source: source,
            target: target,
            kind: kind,
            requestedBy: requestedBy,
            at: coordinator.now()
        )
        FaultInjection.journaled(MigrationRecord.State.planned.rawValue)
        logger.info(
            "migration planned",
            metadata: [
                "migration": .string(record.id), "vm": .string(vm.name), "source": .string(source.rawValue),
                "target": .string(target.rawValue), "epoch": .stringConvertible(record.epoch.rawValue),
                "kind": .string(kind.rawValue),
            ]
        )
        return record
    }

    /// What a hypervisor hand-off needs beyond the file set (issue 23): the metadata the coordinator holds for the VM
    /// and both nodes' libvirt URIs.
    struct HandOff: Sendable {
        var metadata: HypervisorMetadata?
        var digest: String?
        var sourceURI: String?
        var targetURI: String?
        /// `migrate --offline`, passed to the release.
        var offline = false
    }

    /// The held metadata (a body that no longer decodes is left out: the agent's next upload replaces it) and URIs.
    func handOff(for record: MigrationRecord, offline: Bool = false) -> HandOff {
        let held = try? store.heldMetadata(of: record.vm)
        let uris = (try? store.hypervisorURIs()) ?? [:]
        return HandOff(
            metadata: held.flatMap { try? JSONDecoder().decode(HypervisorMetadata.self, from: $0.body) },
            digest: held?.digest,
            sourceURI: uris[record.source],
            targetURI: uris[record.target],
            offline: offline
        )
    }

    /// The agent command for each of the machine's steps: the VM's definition rebased onto the target's mounts goes
    /// with the preflight and the adopts (an adopt back carries the same definition to the source), with the held
    /// hypervisor metadata; the release carries the metadata's digest.
    static func commands(
        for record: MigrationRecord,
        vm: VM,
        in view: ClusterView,
        handOff: HandOff = HandOff()
    ) -> @Sendable (MigrationMachine.Command) -> AgentCommand {
        let (built, expected) = VMDefinitionBuilder.definition(of: vm, on: record.target, in: view)
        var definition = built
        definition.metadata = handOff.metadata
        return { [definition] step in
            let withDefinition = step != .release
            var command = AgentCommand(
                id: UUID().uuidString.lowercased(),
                kind: step == .release ? .release : step == .preflight ? .preflight : .adopt,
                migrationId: record.id,
                vmId: vm.id.rawValue,
                vmName: vm.name,
                epoch: record.epoch.rawValue,
                source: record.source.rawValue,
                target: record.target.rawValue,
                definition: withDefinition ? definition : nil,
                expected: withDefinition ? expected : [],
                failover: record.kind == .failover ? true : nil
            )
            command.metadataDigest = step == .release ? handOff.digest : nil
            command.offline = step == .release && handOff.offline ? true : nil
            command.sourceURI = handOff.sourceURI
            command.targetURI = handOff.targetURI
            return command
        }
    }

    /// The answer `migrate --json` prints for a run.
    static func response(_ result: MigrationRunner.Result, record: MigrationRecord) -> CheckResponse {
        let (state, reasons): (MigrationRecord.State, [ReasonJSON]) =
            switch result.outcome {
            case .committed: (.committed, [])
            case .abortedBeforeRelease(_, let refusedBy):
                (.aborted, refusedBy.flatMap { result.answers[$0]?.reasons } ?? [])
            case .abortedAfterRelease(let reason, _): (.aborted, [ReasonJSON(code: "adopt-failed", message: reason)])
            }
        return CheckResponse(
            vm: record.vmName,
            vmId: record.vm.rawValue,
            target: record.target.rawValue,
            allowed: state == .committed,
            reasons: reasons,
            migrationId: record.id,
            state: state.rawValue,
            epoch: record.epoch.rawValue
        )
    }

    /// Finishes what a previous run of the coordinator left in the journal (SPEC §6 recovery).
    func recover() async {
        guard let active = try? store.activeMigrations(), !active.isEmpty else { return }
        // Migrations this process is still driving are left to it (leadership lost and proven again meanwhile).
        for record in active where coordinator.driving.insert(record.id) {
            defer { coordinator.driving.remove(record.id) }
            var command: @Sendable (MigrationMachine.Command) -> AgentCommand = { _ in
                AgentCommand(
                    id: UUID().uuidString.lowercased(),
                    kind: .adopt,
                    migrationId: record.id,
                    vmId: record.vm.rawValue,
                    vmName: record.vmName,
                    epoch: record.epoch.rawValue,
                    source: record.source.rawValue,
                    target: record.target.rawValue
                )
            }
            if record.kind.isOperation {
                // An operation whose order no longer decodes is sent as a bare apply, which its owner refuses: the
                // machine then aborts it. It is never sent as anything else.
                command =
                    CheckpointOperator.commands(recovering: record) ?? { _ in
                        AgentCommand(
                            id: UUID().uuidString.lowercased(),
                            kind: .apply,
                            migrationId: record.id,
                            vmId: record.vm.rawValue,
                            vmName: record.vmName,
                            epoch: record.epoch.rawValue,
                            source: record.source.rawValue,
                            target: record.target.rawValue
                        )
                    }
            } else if record.state == .sourceReleased {
                // Adopting again needs the VM's definition; without the VM there is nothing to send.
                // The VM by id and the placement view around it, not a read of every file in the cluster.
                guard let (vm, view) = try? coordinator.judged(record.vm.rawValue) else { continue }
                command = Self.commands(for: record, vm: vm, in: view, handOff: handOff(for: record))
            }
            let result = try? await runner.run(
                MigrationMachine(recovering: record, settings: runner.settings),
                record: record,
                command: command
            )
            if record.kind == .repair, case .committed = result?.outcome {
                // As `repair` itself does: nothing stranded any more, so failover-blocked no longer holds.
                Repairer(coordinator: coordinator, logger: logger).clearIfRepaired(record.vm, actor: record.requestedBy)
            }
            logger.notice(
                "recovered migration",
                metadata: ["migration": .string(record.id), "was": .string(record.state.rawValue)]
            )
        }
    }
}
