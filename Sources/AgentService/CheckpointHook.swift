import ClusterAPI
import Foundation

/// The `checkpoint` and `repair` hooks (SPEC §7): how a Hyper-V node (or any node whose hooks override the built-in
/// driver) takes, deletes and reverts checkpoints, and moves a stranded VM's files (issue 25).
///
/// The hook gets the environment of the other hooks plus `CHAINKEEPER_CHECKPOINT`, `CHAINKEEPER_TARGET_VOLUME` and
/// `CHAINKEEPER_PLAN`, a JSON file with everything the operation needs (`Plan`). It may be run again for the same
/// operation (`CHAINKEEPER_MIGRATION_ID`) after a crash, so it must be idempotent: finish what is done, skip what is
/// already done. deploy/hyperv/Invoke-ChainkeeperCheckpoint.ps1 and Invoke-ChainkeeperRepair.ps1 are the Hyper-V ones;
/// AgentTests check their contract.
enum CheckpointHook {
    /// `CHAINKEEPER_PLAN`'s content.
    struct Plan: Codable, Equatable {
        var operationId: String
        var vmId: String
        var vmName: String
        var epoch: Int64
        /// `create`, `delete` or `revert`.
        var action: String
        /// The new checkpoint's name (create), or the checkpoint's id (delete, revert).
        var checkpoint: String
        var memory: Bool
        var description: String?
        var children: Bool
        /// Where the location rule allowed the new files (paths as the agent sees them).
        var files: [CheckpointOrder.File]
        /// (repair) the files to move: `from`, `to`, `kind`, `size`, stranded ones and the disks above them.
        var moves: [CheckpointOrder.Move]
        /// (repair) keep the originals.
        var keepOld: Bool

        enum CodingKeys: String, CodingKey {
            case operationId, vmId, vmName, epoch, action, checkpoint, memory, description, children, files, moves
            case keepOld
        }

        /// Every field is written, `description` as null when absent: PowerShell's strict mode refuses to read a
        /// property the object does not have.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(operationId, forKey: .operationId)
            try container.encode(vmId, forKey: .vmId)
            try container.encode(vmName, forKey: .vmName)
            try container.encode(epoch, forKey: .epoch)
            try container.encode(action, forKey: .action)
            try container.encode(checkpoint, forKey: .checkpoint)
            try container.encode(memory, forKey: .memory)
            try container.encode(description, forKey: .description)
            try container.encode(children, forKey: .children)
            try container.encode(files, forKey: .files)
            try container.encode(moves, forKey: .moves)
            try container.encode(keepOld, forKey: .keepOld)
        }
    }

    static func plan(_ command: AgentCommand, _ order: CheckpointOrder) -> Plan {
        Plan(
            operationId: command.migrationId,
            vmId: command.vmId,
            vmName: command.vmName,
            epoch: command.epoch,
            action: order.action.rawValue,
            checkpoint: order.checkpoint,
            memory: order.memory == true,
            description: order.description,
            children: order.children == true,
            files: order.files ?? [],
            moves: order.moves ?? [],
            keepOld: order.keepOld == true
        )
    }

    /// The hook's environment; `targetVolume` is the directory the new files go to, when the plan names any.
    static func environment(_ command: AgentCommand, _ order: CheckpointOrder, planPath: String) -> [String: String] {
        let paths = (order.files ?? []).map(\.path) + (order.moves ?? []).map(\.to)
        return [
            "CHAINKEEPER_OPERATION": order.action == .repair ? "repair" : "checkpoint-\(order.action.rawValue)",
            "CHAINKEEPER_VM_ID": command.vmId,
            "CHAINKEEPER_VM_NAME": command.vmName, "CHAINKEEPER_EPOCH": String(command.epoch),
            "CHAINKEEPER_SOURCE": command.source, "CHAINKEEPER_TARGET": command.target,
            "CHAINKEEPER_MIGRATION_ID": command.migrationId, "CHAINKEEPER_CHECKPOINT": order.checkpoint,
            "CHAINKEEPER_TARGET_VOLUME": paths.first.map { path in
                path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ""
            } ?? "",
            "CHAINKEEPER_PLAN": planPath,
        ]
    }
}
