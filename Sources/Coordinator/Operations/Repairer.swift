import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import Logging

/// `repair VM [--to-volume V] [--dry-run] [--keep-old]` (issue 25): the plan (`RepairRule`), then the owner copies,
/// verifies, re-links and switches, journaled like a checkpoint operation (kind `repair`, one operation per VM,
/// epochs, recovery after a restart).
///
/// Once the operation committed, the VM is judged again from the owner's fresh report: with no stranded file left its
/// `failover-blocked` mark (and failover count) is cleared, as `vm clear` would.
struct Repairer: Sendable {
    let coordinator: Coordinator
    let logger: Logger
    var requestedBy = "admin"

    func repair(
        _ vm: VM,
        to volume: VolumeID,
        keepOld: Bool,
        dryRun: Bool,
        view: ClusterView
    ) async throws -> RepairResponse {
        let plan = RepairRule.plan(vm, to: volume, in: view)
        var response = RepairResponse(
            vm: vm.name,
            vmId: vm.id.rawValue,
            allowed: plan.allowed,
            reasons: plan.reasons.map(ReasonJSON.init),
            volume: view.volumes[volume]?.name ?? volume.rawValue,
            volumeId: volume.rawValue,
            dryRun: dryRun,
            files: plan.copies.map {
                RepairResponse.File(
                    from: $0.from,
                    to: $0.to,
                    size: $0.size,
                    kind: $0.kind.rawValue,
                    why: $0.stranded ? "stranded" : "above-stranded"
                )
            }
        )
        guard !dryRun, plan.allowed else { return response }
        guard !plan.copies.isEmpty else {
            response.message = "\(vm.name) has no stranded file: nothing to repair"
            return response
        }
        let order = CheckpointOrder(
            action: .repair,
            checkpoint: volume.rawValue,
            moves: plan.copies.map {
                CheckpointOrder.Move(from: $0.from, to: $0.to, kind: $0.kind.rawValue, size: $0.size)
            },
            keepOld: keepOld ? true : nil
        )
        var operations = CheckpointOperator(coordinator: coordinator, logger: logger)
        operations.requestedBy = requestedBy
        let (result, record) = try await operations.execute(order, on: vm)
        let summary = CheckpointOperator.response(result, record: record)
        response.allowed = summary.allowed
        response.reasons = summary.reasons
        response.operationId = summary.operationId
        response.state = summary.state
        response.epoch = summary.epoch
        response.message = result.answers[.apply]?.message ?? result.answers[.preflight]?.message
        guard summary.state == MigrationRecord.State.committed.rawValue else { return response }
        response.keptOld = keepOld
        let left = try strandedAfter(vm.id)
        if left.isEmpty {
            try coordinator.store.clearFailover(vm: vm.id, actor: requestedBy, at: coordinator.now())
            response.failoverCleared = true
        } else {
            response.failoverCleared = false
            response.reasons.append(
                ReasonJSON(
                    code: "still-stranded",
                    message: "the owner's fresh report still shows \(left.count) stranded file(s), such as "
                        + "\(left[0].path); failover-blocked was not cleared"
                )
            )
        }
        logger.notice(
            "repair committed",
            metadata: [
                "vm": .string(vm.name), "operation": .string(record.id), "files": .stringConvertible(plan.copies.count),
                "left": .stringConvertible(left.count),
            ]
        )
        return response
    }

    /// The VM's stranded files as its owner's latest report shows them.
    func strandedAfter(_ vm: VMID) throws -> [VMFile] {
        let (repaired, fresh) = try coordinator.judged(vm.rawValue)
        return RepairRule.strandedFiles(repaired, in: fresh)
    }

    /// After a repair recovered from the journal committed: clears `failover-blocked` when nothing is stranded.
    func clearIfRepaired(_ vm: VMID, actor: String) {
        guard let left = try? strandedAfter(vm), left.isEmpty else { return }
        _ = try? coordinator.store.clearFailover(vm: vm, actor: actor, at: coordinator.now())
    }
}
