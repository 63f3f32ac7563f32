import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import HTTPTypes
import Logging

/// Checkpoint create, delete and revert through the owner's agent (issue 24), journaled with the migrations: one
/// operation per VM at a time, the VM's next epoch, recovery after a restart (SPEC §7).
///
/// The coordinator judges (the location rule before a create, `CheckpointRule`), journals and drives the shared
/// state machine (`MigrationMachine`: `planned → preflight → applying → applied → committed`); the owner verifies and
/// carries the operation out, and answers after its fresh report arrived, so the catalog is exact on return.
struct CheckpointOperator: Sendable {
    let coordinator: Coordinator
    let logger: Logger
    /// Who the journal records as having asked (an admin's token, or a dashboard viewer).
    var requestedBy = "admin"

    var migrator: Migrator { Migrator(coordinator: coordinator, logger: logger) }

    /// `checkpoint list`: the tree, and the current checkpoint the hypervisor marks (libvirt's current snapshot).
    func list(_ vm: VM) -> CheckpointListJSON {
        let held = (try? coordinator.store.heldMetadata(of: vm.id)).flatMap {
            try? JSONDecoder().decode(HypervisorMetadata.self, from: $0.body)
        }
        return CheckpointListJSON(
            vm: vm.name,
            vmId: vm.id.rawValue,
            current: held?.snapshots.first(where: \.current)?.name,
            snapshots: VMDetailJSON.tree(of: vm)
        )
    }

    /// The checkpoint `key` names (an id, else a name); 404 when none, 409 when several share the name.
    func checkpoint(_ key: String, of vm: VM) throws -> Checkpoint {
        if let byID = vm.checkpoints.first(where: { $0.id.rawValue == key }) { return byID }
        let named = vm.checkpoints.filter { $0.name == key }
        guard let first = named.first else {
            throw APIError.notFound("\(vm.name) has no checkpoint named or identified '\(key)'")
        }
        guard named.count == 1 else {
            throw APIError(
                .conflict,
                "ambiguous",
                "\(named.count) checkpoints of \(vm.name) are named '\(key)'; use an id: "
                    + named.map(\.id.rawValue).joined(separator: ", ")
            )
        }
        return first
    }

    func create(_ vm: VM, _ request: CheckpointCreateRequest, view: ClusterView) async throws -> CheckpointResponse {
        if let problem = CheckpointRule.nameProblem(request.name) { throw APIError.badRequest(problem) }
        if let description = request.description,
            let problem = NameRule.message("a description").violation(
                in: description
            )
        {
            throw APIError.badRequest(problem)
        }
        let plan = CheckpointRule.create(vm, name: request.name, memory: request.memory == true, in: view)
        // A name the VM already has is a "no" like the rule's (exit 3), given with them.
        var reasons = plan.reasons.map(ReasonJSON.init)
        if vm.checkpoints.contains(where: { $0.name == request.name }) {
            reasons.append(
                ReasonJSON(
                    code: "checkpoint-exists",
                    message: "\(vm.name) already has a checkpoint named '\(request.name)'; choose another name"
                )
            )
        }
        let files = plan.files.map { CheckpointOrder.File(kind: $0.kind.rawValue, path: $0.path, covers: $0.covers) }
        let order = CheckpointOrder(
            action: .create,
            checkpoint: request.name,
            memory: request.memory == true ? true : nil,
            description: request.description,
            files: files
        )
        let checkpoint = CheckpointResponse.Checkpoint(
            id: request.name,
            name: request.name,
            parentId: currentCheckpoint(of: vm)
        )
        guard reasons.isEmpty else {
            return CheckpointResponse(
                vm: vm.name,
                vmId: vm.id.rawValue,
                allowed: false,
                reasons: reasons,
                checkpoint: checkpoint,
                files: files
            )
        }
        var response = try await run(order, on: vm)
        response.checkpoint = checkpoint
        response.files = files
        return response
    }

    func delete(_ vm: VM, key: String, children: Bool, view: ClusterView) async throws -> CheckpointResponse {
        let target = try checkpoint(key, of: vm)
        let reasons = CheckpointRule.common(vm, in: view)
        let shown = CheckpointResponse.Checkpoint(
            id: target.id.rawValue,
            name: target.name,
            parentId: target.parent?.rawValue
        )
        guard reasons.isEmpty else {
            return CheckpointResponse(
                vm: vm.name,
                vmId: vm.id.rawValue,
                allowed: false,
                reasons: reasons.map(ReasonJSON.init),
                checkpoint: shown
            )
        }
        let order = CheckpointOrder(
            action: .delete,
            checkpoint: target.id.rawValue,
            children: children ? true : nil
        )
        var response = try await run(order, on: vm)
        response.checkpoint = shown
        return response
    }

    func revert(_ vm: VM, key: String, view: ClusterView) async throws -> CheckpointResponse {
        let target = try checkpoint(key, of: vm)
        let suffix = "r" + UUID().uuidString.prefix(6).lowercased()
        let plan = CheckpointRule.revert(vm, to: target.id, suffix: suffix, in: view)
        let shown = CheckpointResponse.Checkpoint(
            id: target.id.rawValue,
            name: target.name,
            parentId: target.parent?.rawValue
        )
        let files = plan.files.map { CheckpointOrder.File(kind: $0.kind.rawValue, path: $0.path, covers: $0.covers) }
        guard plan.allowed else {
            return CheckpointResponse(
                vm: vm.name,
                vmId: vm.id.rawValue,
                allowed: false,
                reasons: plan.reasons.map(ReasonJSON.init),
                checkpoint: shown,
                files: files
            )
        }
        let order = CheckpointOrder(action: .revert, checkpoint: target.id.rawValue, files: files)
        var response = try await run(order, on: vm)
        response.checkpoint = shown
        response.files = files
        return response
    }

    /// Journals the operation and drives it to its end; the journal, not the HTTP request, owns it.
    private func run(_ order: CheckpointOrder, on vm: VM) async throws -> CheckpointResponse {
        let (result, record) = try await execute(order, on: vm)
        return Self.response(result, record: record)
    }

    /// Journals `order` as an operation on `vm`'s owner and drives it to its end.
    func execute(
        _ order: CheckpointOrder,
        on vm: VM
    ) async throws -> (result: MigrationRunner.Result, record: MigrationRecord) {
        let operation = String(decoding: try JSONEncoder().encode(order), as: UTF8.self)
        let record = try await coordinator.critical.planMigration(
            vm: vm.id,
            source: vm.owner,
            target: vm.owner,
            kind: order.kind,
            requestedBy: requestedBy,
            operation: operation,
            at: coordinator.now()
        )
        FaultInjection.journaled(MigrationRecord.State.planned.rawValue)
        logger.info(
            "operation planned",
            metadata: [
                "operation": .string(record.id), "vm": .string(vm.name), "kind": .string(order.kind.rawValue),
                "checkpoint": .string(order.checkpoint), "epoch": .stringConvertible(record.epoch.rawValue),
            ]
        )
        coordinator.driving.insert(record.id)
        let runner = migrator.runner
        let outcome = Task {
            defer { coordinator.driving.remove(record.id) }
            return try await runner.run(
                MigrationMachine(planned: record, settings: runner.settings),
                record: record,
                command: Self.commands(for: record, order: order)
            )
        }
        return (try await outcome.value, record)
    }

    /// The preflight and apply commands of an operation, each with a new id.
    static func commands(
        for record: MigrationRecord,
        order: CheckpointOrder
    ) -> @Sendable (MigrationMachine.Command) -> AgentCommand {
        { step in
            var command = AgentCommand(
                id: UUID().uuidString.lowercased(),
                kind: step == .preflight ? .preflight : .apply,
                migrationId: record.id,
                vmId: record.vm.rawValue,
                vmName: record.vmName,
                epoch: record.epoch.rawValue,
                source: record.source.rawValue,
                target: record.target.rawValue
            )
            command.checkpoint = order
            return command
        }
    }

    /// The command maker for an operation a previous run left in the journal.
    static func commands(recovering record: MigrationRecord) -> (@Sendable (MigrationMachine.Command) -> AgentCommand)?
    {
        guard let text = record.operation,
            let order = try? JSONDecoder().decode(CheckpointOrder.self, from: Data(text.utf8))
        else { return nil }
        return commands(for: record, order: order)
    }

    static func response(_ result: MigrationRunner.Result, record: MigrationRecord) -> CheckpointResponse {
        let (state, reasons): (MigrationRecord.State, [ReasonJSON]) =
            switch result.outcome {
            case .committed: (.committed, [])
            case .abortedBeforeRelease(let reason, let refusedBy):
                (
                    .aborted,
                    refusedBy == .preflight
                        ? result.answers[.preflight]?.reasons ?? []
                        : [ReasonJSON(code: "operation-failed", message: reason)]
                )
            case .abortedAfterRelease(let reason, _):
                (.aborted, [ReasonJSON(code: "operation-failed", message: reason)])
            }
        return CheckpointResponse(
            vm: record.vmName,
            vmId: record.vm.rawValue,
            allowed: state == .committed,
            reasons: reasons,
            operationId: record.id,
            state: state.rawValue,
            epoch: record.epoch.rawValue
        )
    }

    /// The checkpoint the running state descends from, as the held libvirt metadata marks it.
    private func currentCheckpoint(of vm: VM) -> String? {
        list(vm).current
    }
}
