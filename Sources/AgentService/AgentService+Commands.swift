import Agent
import ChainModel
import ClusterAPI
import DecisionEngine
import DiskFormats
import Foundation
import Logging
import NIOCore
import ShellHooks
import Synchronization

extension AgentService {
    /// Long-polls the coordinator for migration steps and answers each (SPEC §6).
    func commandLoop() async {
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelled {
            do {
                let data = try await client.get("commands?wait=25", timeout: .seconds(40))
                let commands = try JSONDecoder().decode([AgentCommand].self, from: data)
                backoff = .milliseconds(250)
                for command in commands {
                    guard command.kind != .apply else {
                        // A checkpoint's merge may take hours: it runs beside the loop, so a failover's adopt to this
                        // node (or any other step) is never held up behind it.
                        Task { try? await self.answer(command, with: await self.execute(command)) }
                        continue
                    }
                    try await answer(command, with: await execute(command))
                }
            } catch {
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(10))
            }
        }
    }

    private func answer(_ command: AgentCommand, with result: CommandResult) async throws {
        _ = try await client.post(
            "commands/\(PathSegment.encode(command.id))",
            body: try JSONEncoder().encode(result),
            timeout: .seconds(10)
        )
    }

    /// Carries out one step; a command whose epoch is below the highest this node has seen for the VM is refused.
    func execute(_ command: AgentCommand) async -> CommandResult {
        var logger = self.logger
        logger[metadataKey: "migration"] = .string(command.migrationId)
        logger[metadataKey: "vm"] = .string(command.vmName)
        logger[metadataKey: "epoch"] = .stringConvertible(command.epoch)
        let standing = lease.withLock { $0.standing }
        guard standing == .admitted else {
            logger.warning("refused a \(command.kind.rawValue): this node holds no lease (\(standing.rawValue))")
            return CommandResult(
                ok: false,
                reasons: [
                    ReasonJSON(
                        code: CommandResult.notAdmitted,
                        message: "\(config.node) holds no lease (\(standing.rawValue)); it acts on nothing until the "
                            + "coordinator readmits it"
                    )
                ],
                message: "no lease"
            )
        }
        let vmId = command.vmId
        if let seen = try? await stored.run({ db throws(AgentStoreError) in try db.epoch(of: vmId) }),
            seen > command.epoch
        {
            logger.warning("refused a stale \(command.kind.rawValue): this node has seen epoch \(seen)")
            return CommandResult(
                ok: false,
                reasons: [
                    ReasonJSON(
                        code: "stale-epoch",
                        message:
                            "\(config.node) has seen epoch \(seen) for \(command.vmName); epoch \(command.epoch) is stale"
                    )
                ],
                message: "stale epoch"
            )
        }
        if let order = command.checkpoint {
            switch command.kind {
            case .preflight: return await checkpointPreflight(command, order: order)
            case .apply: return await checkpointApply(command, order: order)
            case .release, .adopt:
                return CommandResult(ok: false, message: "a checkpoint order came with a \(command.kind.rawValue)")
            }
        }
        switch command.kind {
        case .apply:
            return CommandResult(ok: false, message: "an apply came without an operation to carry out")
        case .preflight:
            guard let definition = command.definition else {
                return CommandResult(ok: false, message: "the preflight carried no VM definition")
            }
            var reasons = await scanner.preflight(definition, expected: command.expected)
            if command.failover == true, let alive = await sourceAlive(command) {
                reasons.append(ReasonJSON(code: "source-alive", message: alive))
            }
            if let handOff = libvirtHandOff, config.hooks["adopt"] == nil {
                reasons += await Self.blocking { handOff.preflight(definition) }
            }
            logger.info("preflight", metadata: ["reasons": .stringConvertible(reasons.count)])
            return CommandResult(ok: reasons.isEmpty, reasons: reasons)
        case .release, .adopt:
            let operation = command.kind.rawValue
            var done = "\(operation) at epoch \(command.epoch)"
            if let hook = config.hooks[operation] {
                let outcome = await HookRunner.run(
                    hook,
                    environment: [
                        "CHAINKEEPER_OPERATION": operation, "CHAINKEEPER_VM_ID": command.vmId,
                        "CHAINKEEPER_VM_NAME": command.vmName, "CHAINKEEPER_EPOCH": String(command.epoch),
                        "CHAINKEEPER_SOURCE": command.source, "CHAINKEEPER_TARGET": command.target,
                        "CHAINKEEPER_MIGRATION_ID": command.migrationId,
                        "CHAINKEEPER_OFFLINE": command.offline == true ? "1" : "0",
                    ],
                    timeout: config.hookTimeout
                )
                guard outcome.status == 0, !outcome.timedOut else {
                    let why =
                        outcome.timedOut
                        ? "ran past hookTimeout \(DurationText.format(config.hookTimeout))"
                        : "exited \(outcome.status)"
                    logger.error("\(operation) hook failed: \(why): \(outcome.output)")
                    return CommandResult(ok: false, message: "\(config.node)'s \(operation) hook \(why)")
                }
            } else if let handOff = libvirtHandOff {
                let current = latestMetadata.withLock { $0[command.vmId] }
                let outcome = await Self.blocking { () -> Result<String, LibvirtHandOff.Failure> in
                    do throws(LibvirtHandOff.Failure) {
                        return .success(
                            command.kind == .adopt
                                ? try handOff.adopt(command) : try handOff.release(command, current: current)
                        )
                    } catch {
                        return .failure(error)
                    }
                }
                switch outcome {
                case .success(let message):
                    logger.notice("libvirt \(operation): \(message)")
                    done = "libvirt \(operation) at epoch \(command.epoch): \(message)"
                case .failure(let failure):
                    logger.error("libvirt \(operation) failed: \(failure.message)")
                    return CommandResult(
                        ok: false,
                        message: "\(config.node): libvirt \(operation) failed: \(failure.message)"
                    )
                }
            }
            let definition = command.kind == .adopt ? command.definition.flatMap { try? JSONEncoder().encode($0) } : nil
            do {
                let (epoch, role) = (command.epoch, command.kind == .adopt ? "adopted" : "released")
                let newer = try await stored.run { db throws(AgentStoreError) in
                    try db.record(vm: vmId, epoch: epoch, role: role, definition: definition, at: Timestamp.now())
                }
                if let newer {
                    return CommandResult(ok: false, message: "a newer epoch \(newer) arrived meanwhile")
                }
            } catch {
                return CommandResult(ok: false, message: "cannot persist the epoch: \(error.message)")
            }
            logger.notice("\(operation) done")
            // The coordinator hears the node's new view of the VM at once, not at the next rescan.
            Task { await self.rescanOnce() }
            return CommandResult(ok: true, message: "\(config.node): \(done)")
        }
    }
}

extension AgentService {
    /// The built-in libvirt hand-off, on a libvirt node (hooks, where set, override it).
    var libvirtHandOff: LibvirtHandOff? {
        config.libvirt.map { LibvirtHandOff(settings: $0, node: config.node) }
    }

    /// Runs blocking work (libvirt calls) on a thread of its own, never on Swift's cooperative pool.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }

    /// A failover's own check on the target (SPEC §6): the source's storage heartbeat, read now.
    func sourceAlive(_ command: AgentCommand) async -> String? {
        let (storage, ttl) = (self.storage, lease.withLock { $0.leaseTTL })
        let (source, vm) = (NodeName(command.source), VMID(command.vmId))
        return await withCheckedContinuation { continuation in
            storage.queue.async {
                let now = Self.monotonicNow()
                continuation.resume(returning: storage.sourceAlive(source, vm: vm, leaseTTL: ttl, at: now))
            }
        }
    }
}

extension ScanWorker {
    /// Re-verifies a VM's whole file set through this node's own mounts, as the target of a migration (SPEC §6):
    /// every file exists, every header parses, every chain resolves with matching identities, and each file is the
    /// one the owner last reported.
    func preflight(_ definition: VMDefinition, expected: [ExpectedFile]) async -> [ReasonJSON] {
        await onQueue { scanner, cache in
            let volumes = scanner.volumes()
            let built = FileSetBuilder(
                volumes: volumes,
                pathMap: scanner.pathMap,
                fileSystem: cache,
                sharedSources: scanner.sharedSources,
                onlyInsideVolumes: true
            )
            .build(definition)
            var reasons: [ReasonJSON] = []
            for file in built.files {
                if let problem = file.problem {
                    reasons.append(
                        ReasonJSON(code: problem.raw, message: file.problemDetail ?? problem.raw, path: file.path)
                    )
                } else if file.volumeId == nil {
                    reasons.append(
                        ReasonJSON(
                            code: "file-on-local-volume",
                            message: "\(file.path) is under no volume this node reports",
                            path: file.path
                        )
                    )
                }
            }
            let found = Dictionary(built.files.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
            for file in expected {
                guard let seen = found[LocalPath.normalize(file.path)] else {
                    reasons.append(
                        ReasonJSON(
                            code: "chain-broken",
                            message: "\(file.path) is no longer reached from the VM's disks",
                            path: file.path
                        )
                    )
                    continue
                }
                if let identifier = file.identifier, let actual = seen.identifier, actual != identifier {
                    reasons.append(
                        ReasonJSON(
                            code: "chain-broken",
                            message: "\(file.path) is not the disk the owner reported (identifier \(actual), "
                                + "expected \(identifier)); it changed since the last inventory",
                            path: file.path
                        )
                    )
                }
            }
            return reasons
        }
    }
}
