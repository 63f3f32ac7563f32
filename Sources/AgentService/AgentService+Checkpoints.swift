import ChainModel
import ClusterAPI
import DecisionEngine
import DiskFormats
import Foundation
import Logging
import ShellHooks
import Synchronization

extension AgentService {
    /// The owner's own check of a checkpoint operation before the coordinator journals `applying` (issue 24).
    func checkpointPreflight(_ command: AgentCommand, order: CheckpointOrder) async -> CommandResult {
        // A `checkpoint` (`repair`) hook overrides the built-in driver, as `release` and `adopt` do; it decides when it
        // runs.
        if config.hooks[Self.hookName(order)] != nil { return CommandResult(ok: true) }
        if order.action == .repair, let libvirt = config.libvirt {
            let repair = LibvirtRepair(settings: libvirt, node: config.node, pathMap: pathMap, volumes: config.volumes)
            let reasons = await Self.blocking { repair.preflight(command, order: order) }
            logger.info(
                "repair preflight",
                metadata: [
                    "vm": .string(command.vmName), "files": .stringConvertible(order.moves?.count ?? 0),
                    "reasons": .stringConvertible(reasons.count),
                ]
            )
            return CommandResult(ok: reasons.isEmpty, reasons: reasons)
        }
        guard let libvirt = config.libvirt else {
            return CommandResult(
                ok: false,
                reasons: [
                    ReasonJSON(
                        code: "checkpoint-unsupported",
                        message:
                            "\(config.node) runs no libvirt driver; Hyper-V \(order.action == .repair ? "repairs" : "checkpoints") go "
                            + "through the `\(Self.hookName(order))` hook, which is not configured here"
                    )
                ]
            )
        }
        let checkpoints = LibvirtCheckpoints(settings: libvirt, node: config.node)
        let reasons = await Self.blocking { checkpoints.preflight(command, order: order) }
        logger.info(
            "checkpoint preflight",
            metadata: [
                "vm": .string(command.vmName), "action": .string(order.action.rawValue),
                "reasons": .stringConvertible(reasons.count),
            ]
        )
        return CommandResult(ok: reasons.isEmpty, reasons: reasons)
    }

    /// Carries out a checkpoint operation once per journal id.
    ///
    /// A repeat (the coordinator's answer timed out, or it restarted) joins the run under way or gets its outcome;
    /// after an agent restart the operation itself finishes what was started (`LibvirtCheckpoints`). The answer leaves only after a fresh report reached the coordinator,
    /// so `vm show` is exact when the command returns.
    func checkpointApply(_ command: AgentCommand, order: CheckpointOrder) async -> CommandResult {
        let id = command.migrationId
        let task = operations.withLock { book -> Task<CommandResult, Never> in
            if let result = book.finished[id] { return Task { result } }
            if let task = book.running[id] { return task }
            let task = Task {
                let result = await self.runCheckpoint(command, order: order)
                self.operations.withLock { $0.finish(id, result) }
                return result
            }
            book.running[id] = task
            return task
        }
        return await task.value
    }

    /// The hook that carries out `order` instead of the built-in driver: `repair` for a repair, else `checkpoint`.
    static func hookName(_ order: CheckpointOrder) -> String { order.action == .repair ? "repair" : "checkpoint" }

    /// `repair`, or `checkpoint create` (…), for the log.
    static func operationName(_ order: CheckpointOrder) -> String {
        order.action == .repair ? "repair" : "checkpoint \(order.action.rawValue)"
    }

    var pathMap: PathMap {
        PathMap(
            config.pathMap.sorted { $0.key < $1.key }.map {
                PathMap.Entry(windowsPrefix: $0.key, localDirectory: $0.value)
            }
        )
    }

    private func runCheckpoint(_ command: AgentCommand, order: CheckpointOrder) async -> CommandResult {
        if let hook = config.hooks[Self.hookName(order)] { return await runCheckpointHook(hook, command, order) }
        guard let libvirt = config.libvirt else {
            return CommandResult(ok: false, message: "\(config.node) runs no libvirt driver")
        }
        var logger = self.logger
        logger[metadataKey: "operation"] = .string(command.migrationId)
        logger[metadataKey: "vm"] = .string(command.vmName)
        let (vmId, epoch) = (command.vmId, command.epoch)
        do {
            if let newer = try await stored.run({ db throws(AgentStoreError) in
                try db.raiseEpoch(vm: vmId, to: epoch, at: Timestamp.now())
            }) {
                return CommandResult(ok: false, message: "a newer epoch \(newer) arrived meanwhile")
            }
        } catch {
            return CommandResult(ok: false, message: "cannot persist the epoch: \(error.message)")
        }
        let checkpoints = LibvirtCheckpoints(settings: libvirt, node: config.node)
        let repair = LibvirtRepair(settings: libvirt, node: config.node, pathMap: pathMap, volumes: config.volumes)
        AgentFaultInjection.reached("checkpoint-apply")
        let outcome = await Self.blocking { () -> Result<String, LibvirtCheckpoints.Failure> in
            do throws(LibvirtCheckpoints.Failure) {
                if order.action == .repair { return .success(try repair.apply(command, order: order)) }
                return .success(try checkpoints.apply(command, order: order))
            } catch {
                return .failure(error)
            }
        }
        AgentFaultInjection.reached("checkpoint-applied")
        // Whatever happened, the coordinator hears the node's view of the VM now.
        await reportNow(vm: command.vmId)
        switch outcome {
        case .success(let message):
            logger.notice("\(Self.operationName(order)): \(message)")
            return CommandResult(ok: true, message: "\(config.node): \(message)")
        case .failure(let failure):
            logger.error("\(Self.operationName(order)) failed: \(failure.message)")
            return CommandResult(ok: false, message: "\(config.node): \(failure.message)")
        }
    }

    /// The `checkpoint` hook with its plan file; a fresh report follows whatever it did.
    private func runCheckpointHook(
        _ hook: String,
        _ command: AgentCommand,
        _ order: CheckpointOrder
    ) async
        -> CommandResult
    {
        let directory = LocalPath.join(config.dataDir, "plans")
        let planPath = LocalPath.join(directory, "\(command.migrationId.filter { $0.isHexDigit || $0 == "-" }).json")
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(CheckpointHook.plan(command, order)).write(to: URL(fileURLWithPath: planPath))
        } catch {
            return CommandResult(ok: false, message: "\(config.node) cannot write the checkpoint plan: \(error)")
        }
        let (vmId, epoch) = (command.vmId, command.epoch)
        if let newer = try? await stored.run({ db throws(AgentStoreError) in
            try db.raiseEpoch(vm: vmId, to: epoch, at: Timestamp.now())
        }) {
            return CommandResult(ok: false, message: "a newer epoch \(newer) arrived meanwhile")
        }
        let outcome = await HookRunner.run(
            hook,
            environment: CheckpointHook.environment(command, order, planPath: planPath),
            timeout: config.hookTimeout
        )
        await reportNow(vm: command.vmId)
        guard outcome.status == 0, !outcome.timedOut else {
            let why =
                outcome.timedOut
                ? "ran past hookTimeout \(DurationText.format(config.hookTimeout))" : "exited \(outcome.status)"
            logger.error("\(Self.hookName(order)) hook failed: \(why): \(outcome.output)")
            return CommandResult(ok: false, message: "\(config.node)'s \(Self.hookName(order)) hook \(why)")
        }
        try? FileManager.default.removeItem(atPath: planPath)
        logger.notice("\(Self.operationName(order)) through the hook")
        return CommandResult(
            ok: true,
            message: "\(config.node): \(Self.hookName(order)) hook: \(order.action.rawValue) done"
        )
    }

    /// Rescans, and waits (up to 15 s) until the report left the outbox, then uploads the VM's hypervisor metadata.
    func reportNow(vm: String) async {
        await rescanOnce()
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let waiting = (try? await stored.run { db throws(AgentStoreError) in try db.outboxCount() }) ?? 0
            if waiting == 0 { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        await uploadMetadata(for: [vm])
    }
}

/// The agent's operations by journal id: those running (a repeat joins them) and the outcomes of the last 64 finished
/// (a repeat gets the outcome; an operation still running is never forgotten).
struct OperationBook: Sendable {
    var running: [String: Task<CommandResult, Never>] = [:]
    var finished: [String: CommandResult] = [:]
    private var order: [String] = []

    mutating func finish(_ id: String, _ result: CommandResult) {
        running[id] = nil
        finished[id] = result
        order.append(id)
        if order.count > 64 { finished[order.removeFirst()] = nil }
    }
}
