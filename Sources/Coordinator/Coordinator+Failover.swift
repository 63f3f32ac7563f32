import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import HTTPTypes
import Logging
import Prometheus
import ServiceLifecycle
import ShellHooks

extension Coordinator {
    /// An agent's heartbeat (SPEC §6): renews its lease, or says why it holds none; a readmitted agent that asked is
    /// told which VMs are its own.
    func heartbeat(
        from node: NodeName,
        askingReadmission: Bool,
        storage: StorageHeartbeatReport? = nil,
        isolationStopDigest: String? = nil,
        logger: Logger
    ) async throws -> HeartbeatAnswer {
        // From memory: 640 heartbeats a second each reading the node's row were 12 % of the CPU (NodeStateCache).
        let stored = try store.nodeState(named: node)
        if stored == nil {
            // A node heard of for the first time: its row must exist before it is answered.
            try store.recordHeartbeat(of: node, at: now())
        }
        storageLoss.heard(from: node, lost: storage?.lost)
        let turn = await failover.heartbeatTurn(
            from: node,
            state: stored,
            storage: storage.map { ($0.writes, Self.readings($0, by: node)) },
            isolationStopDigest: isolationStopDigest
        )
        if stored != nil, turn.writeHeartbeat {
            // The time is kept for `nodes`, not for the lease (which lives in memory): written on the report lane,
            // never awaited, so a heartbeat never waits for the database's writer.
            let (store, at) = (self.store, now())
            Task(executorPreference: lanes.ingest) { try? store.recordHeartbeat(of: node, at: at) }
        }
        let admission = turn.admission
        if !turn.actions.isEmpty { await apply(turn.actions, logger: logger) }
        var answer = HeartbeatAnswer(
            settings: announcement,
            admitted: admission.admitted,
            state: admission.state.rawValue,
            message: admission.message
        )
        if rebuild.wantsReport(from: node) { answer.reportWanted = true }
        answer.sharedVolumes = turn.sharedVolumes
        answer.readPeers = turn.readPeers
        if let stops = turn.isolationStops {
            answer.isolationStop = stops.vms
            answer.isolationStopDigest = stops.digest
        }
        if admission.admitted, askingReadmission || stored == .down || stored == .fenced || stored == .isolated {
            let (owned, elsewhere) = try store.ownership(of: node)
            answer.owned = owned.map { VMEpochJSON(vmId: $0.id.rawValue, epoch: $0.epoch.rawValue) }
            answer.elsewhere = elsewhere.map { VMEpochJSON(vmId: $0.id.rawValue, epoch: $0.epoch.rawValue) }
        }
        return answer
    }

    /// Blocked VMs logged one by one in a round; the rest are counted (the audit lists every one).
    static let blockedVMsLogged = 50

    var announcement: CoordinatorAnnouncement {
        CoordinatorAnnouncement(
            leaseTTLMilliseconds: config.leaseTTL.wholeMilliseconds,
            probeIntervalMilliseconds: config.probeInterval.wholeMilliseconds,
            isolationTimeoutMilliseconds: config.isolationTimeout.wholeMilliseconds
        )
    }

    /// One round of the failover manager: declare down, fence, fail over (SPEC §6).
    ///
    /// Returns whether another round should follow at once: this one fenced a node (its watchdog's word, no fence
    /// command) and its VMs are read and planned only by the next round.
    @discardableResult
    func failoverTick(logger: Logger) async -> Bool {
        if rebuild.closeIfOver() {
            logger.notice("ownership rebuild over: from now on a report never changes a VM's owner")
            do {
                try store.forgetBackupOrigin()
            } catch {
                logger.error("cannot record that the restored backup's owners were rebuilt: \(error)")
            }
        }
        guard leadership.isLeader else { return false }
        let commits = store.commits.value
        if await failover.wantsIsolationStops(at: commits) {
            do {
                await failover.setIsolationStops(try store.isolationStopVMs(), at: commits)
            } catch {
                logger.error("cannot read which VMs stop when their node is isolated: \(error)")
            }
        }
        do {
            // During the start-up wait the view is read once, for the volumes and readers heartbeat answers carry; a
            // view rebuilt at every commit of a first lease's reports would take the CPU heartbeats need.
            guard await failover.pastStartupWait() else {
                if await !failover.hasObserved { await observeStorage(try placementView()) }
                return false
            }
            let view = try placementView()
            await observeStorage(view)
            let record = try store.failoverRecord(since: now() - .seconds(90 * 24 * 3600))
            // Read here, never inside the failover actor, whose every moment a heartbeat may be waiting for.
            var owned: [NodeName: [VM]]?
            if await failover.wantsPlan(at: commits) {
                // VMs already moving are not planned again: only their ids are read.
                let moving = await failover.moving()
                var vms: [NodeName: [VM]] = [:]
                for node in view.nodes.values where node.state == .fenced || node.state == .isolated {
                    vms[node.name] = try store.vms(ownedBy: node.name, except: moving)
                }
                owned = vms
            }
            var (actions, request) = await failover.decide(
                view: view,
                memory: FailoverMemory(failovers: record.failovers, blocked: record.blocked),
                commits: commits,
                owned: owned
            )
            let fencedNow = actions.contains { action in
                if case .setState(_, .fenced, _) = action { true } else { false }
            }
            if let request {
                // Seconds for thousands of VMs: computed here, on the failover lane, while heartbeats go on.
                actions += await failover.record(HAManager.plan(request), for: request)
            }
            await apply(actions, logger: logger)
            return fencedNow && request == nil
        } catch {
            logger.error("failover round failed: \(error)")
            return false
        }
    }

    /// Tells the failover manager which volumes each node shares and whose storage heartbeats it reads, computed here
    /// on the failover lane: inside the manager's actor every heartbeat arriving meanwhile waited for it.
    private func observeStorage(_ view: ClusterView) async {
        let lapsing = await failover.lapsing(among: Array(view.nodes.keys))
        await failover.install(StorageObservation(view: view, lapsing: lapsing))
    }

    /// Carries out what the manager decided: state changes and blocks at once, fence commands and failovers in their
    /// own tasks that report back when they end.
    func apply(_ actions: [HAAction], actor: String = "failover", logger: Logger) async {
        var blocks: [ClusterStore.FailoverBlock] = []
        var failovers: [FailoverQueue.Work] = []
        defer {
            do {
                try store.blockFailovers(blocks, at: now())
            } catch {
                logger.error("cannot record that \(blocks.count) VM(s) are failover-blocked: \(error)")
            }
            if blocks.count > Self.blockedVMsLogged {
                logger.error(
                    "failover-blocked: \(blocks.count - Self.blockedVMsLogged) more VMs (`chainkeeper audit` lists them all)"
                )
            }
        }
        for action in actions {
            switch action {
            case .setState(let node, let state, let because):
                logger.notice(
                    "node \(state.rawValue)",
                    metadata: ["node": .string(node.rawValue), "because": .string(because)]
                )
                metrics.makeCounter(
                    descriptor: MetricNameDescriptor(
                        namespace: "chainkeeper",
                        metricName: "node_state_changes",
                        unitName: "total",
                        helpText: "Node state changes by the failover manager (isolated, down, fenced, quarantined, up)"
                    ),
                    labels: [("state", state.rawValue)]
                ).increment()
                do {
                    try await critical.setNodeState(node, to: state, because: because, actor: actor, at: now())
                } catch {
                    logger.error("cannot record that \(node) is \(state.rawValue): \(error)")
                }
            case .runFence(let node):
                Task { await runFence(node, logger: logger) }
            case .failover(let move):
                logger.notice(
                    "failover planned",
                    metadata: [
                        "vm": .string(move.vmName), "from": .string(move.from.rawValue),
                        "target": .string(move.target.rawValue),
                    ]
                )
                // Run `failover.concurrency` at a time, in plan order (priority first): placement was decided for
                // every move at once, so a waiting move keeps its target; a move the manager no longer wants (this
                // coordinator stopped leading meanwhile) is dropped when its turn comes.
                // The manager's actor is called from the global executor, the migration's blocking work runs on the
                // failover-runs lane: a default actor runs where its caller prefers, and on a lane thread busy with
                // reads it held every heartbeat for seconds.
                failovers.append { [self] in
                    let wanted = await withTaskExecutorPreference(globalConcurrentExecutor) {
                        await failover.isWanted(move)
                    }
                    guard wanted, leadership.isLeader else { return }
                    let outcome = await withTaskExecutorPreference(lanes.failoverRuns) {
                        await Migrator(coordinator: self, logger: logger).failover(move)
                    }
                    let actions = await withTaskExecutorPreference(globalConcurrentExecutor) {
                        await failover.failoverFinished(move.vm, outcome: outcome)
                    }
                    await withTaskExecutorPreference(lanes.failoverRuns) { await apply(actions, logger: logger) }
                }
            case .block(let held):
                let summary = HAAction.summary(of: held.reasons)
                if blocks.count < Self.blockedVMsLogged {
                    logger.error(
                        "failover-blocked",
                        metadata: [
                            "vm": .string(held.vmName), "node": .string(held.from.rawValue),
                            "reasons": .string(summary),
                        ]
                    )
                }
                let reasons = (try? JSONEncoder().encode(held.reasons.map(ReasonJSON.init))).map {
                    String(decoding: $0, as: UTF8.self)
                }
                blocks.append(.init(vm: held.vm, node: held.from, summary: summary, reasons: reasons ?? "[]"))
            }
        }
        if !failovers.isEmpty { await failoverQueue.enqueue(failovers) }
    }

    private func runFence(_ node: NodeName, logger: Logger) async {
        guard let command = config.fenceCommand else { return }
        logger.notice("running the fence command", metadata: ["node": .string(node.rawValue)])
        let outcome = await HookRunner.run(
            command,
            environment: ["CHAINKEEPER_NODE": node.rawValue, "CHAINKEEPER_OPERATION": "fence"],
            timeout: config.fenceTimeout
        )
        if outcome.succeeded {
            logger.notice("fence command succeeded", metadata: ["node": .string(node.rawValue)])
        } else {
            logger.error(
                """
                fence command failed; the node is not failed over until it succeeds or an administrator runs \
                `chainkeeper node fence-confirm \(node)`
                """,
                metadata: [
                    "node": .string(node.rawValue), "status": .stringConvertible(outcome.status),
                    "timedOut": .stringConvertible(outcome.timedOut), "output": .string(outcome.output),
                ]
            )
        }
        let state = try? store.nodeState(named: node)
        await apply(await failover.fenceFinished(node, succeeded: outcome.succeeded, state: state), logger: logger)
    }

    // MARK: - Administrators

    /// `node fence-confirm NODE`.
    func confirmFenced(_ node: NodeName, logger: Logger) async throws -> ActionResponse {
        guard let stored = try store.node(named: node) else { throw APIError.notFound("no node is named '\(node)'") }
        let actions: [HAAction]
        do {
            actions = try await failover.confirmFenced(node, state: stored.state)
        } catch {
            throw APIError(.conflict, error.code, error.message)
        }
        await apply(actions, actor: "admin", logger: logger)
        return ActionResponse(
            name: node.rawValue,
            state: NodeState.fenced.rawValue,
            message: stored.state == .fenced
                ? "\(node) was already fenced"
                : "\(node) counts as fenced; its VMs fail over at the next round"
        )
    }

    /// `node resume NODE`: ends a drain or a quarantine.
    func resume(_ node: NodeName, actor: String = "admin") async throws -> ActionResponse {
        guard let stored = try store.node(named: node) else { throw APIError.notFound("no node is named '\(node)'") }
        guard stored.state == .draining || stored.state == .quarantined else {
            throw APIError(
                .conflict,
                "not-draining",
                "\(node) is \(stored.state.rawValue), not draining; a down or fenced node is readmitted when its agent "
                    + "comes back"
            )
        }
        try await critical.setNodeState(
            node,
            to: .up,
            because: "an administrator ended the \(stored.state == .draining ? "drain" : "quarantine")",
            actor: actor,
            at: now()
        )
        return ActionResponse(name: node.rawValue, state: "up", message: "\(node) takes VMs again")
    }

    /// `node remove NODE`: forgets a node that owns nothing and holds no lease.
    func remove(_ node: NodeName) async throws -> ActionResponse {
        guard let stored = try store.node(named: node) else { throw APIError.notFound("no node is named '\(node)'") }
        if stored.state.renewsLease, let left = await failover.leaseExpiresIn(node),
            left > .zero
        {
            throw APIError(
                .conflict,
                "node-alive",
                "\(node)'s agent holds a lease for another \(DurationText.format(left)); stop it first, or drain it"
            )
        }
        try store.removeNode(node, actor: "admin", at: now())
        await failover.forget(node)
        storageLoss.forget(node)
        return ActionResponse(name: node.rawValue, state: "removed", message: "\(node) is no longer a member")
    }

    /// `vm clear VM`.
    func clear(_ vm: VM) throws -> ActionResponse {
        let wasBlocked = try store.clearFailover(vm: vm.id, actor: "admin", at: now())
        return ActionResponse(
            name: vm.name,
            state: "cleared",
            message: wasBlocked
                ? "\(vm.name) is no longer failover-blocked and its failover count starts again"
                : "\(vm.name) was not failover-blocked; its failover count starts again"
        )
    }

    /// `drain NODE`: marks it draining and moves every HA VM off it with the same rules as failover, one at a time;
    /// what cannot move stays, with its reasons.
    func drain(_ node: NodeName, actor: String = "admin", logger: Logger) async throws -> DrainResponse {
        guard let stored = try store.node(named: node) else { throw APIError.notFound("no node is named '\(node)'") }
        guard stored.state == .up || stored.state == .draining else {
            throw APIError(.conflict, "node-not-up", "\(node) is \(stored.state.rawValue); only an up node can drain")
        }
        if stored.state == .up {
            try await critical.setNodeState(
                node,
                to: .draining,
                because: "an administrator drains it",
                actor: actor,
                at: now()
            )
        }
        // VMs whose policy says `--stranded repair` have their stranded files moved first (issue 25); one whose
        // repair is refused or fails stays, with the repair's reasons.
        var repaired: [DrainResponse.Repaired] = []
        var failedRepairs: [VMID: [ReasonJSON]] = [:]
        // One view picks the candidates; only those are judged again, each against the cluster as the earlier
        // repairs left it (a drain of a node with a thousand VMs does not rebuild the view a thousand times).
        let before = try placementView()
        let candidates = try store.vms(ownedBy: node).filter {
            before.isHighlyAvailable($0) && before.policy(for: $0.id).stranded == .repair
                && !RepairRule.strandedFiles($0, in: before).isEmpty
        }
        for candidate in candidates {
            let (vm, current) = try judged(candidate.id.rawValue)
            guard current.isHighlyAvailable(vm), current.policy(for: vm.id).stranded == .repair,
                !RepairRule.strandedFiles(vm, in: current).isEmpty
            else { continue }
            guard let volume = RepairRule.suggestedVolume(vm, in: current) else {
                failedRepairs[vm.id] = [
                    ReasonJSON(
                        code: "file-on-local-volume",
                        message:
                            "\(vm.name) is stranded and no volume every possible owner reaches could take its files"
                    )
                ]
                continue
            }
            let outcome = try await Repairer(coordinator: self, logger: logger, requestedBy: actor)
                .repair(vm, to: volume, keepOld: false, dryRun: false, view: current)
            if outcome.state == MigrationRecord.State.committed.rawValue {
                repaired.append(
                    .init(vm: vm.name, vmId: vm.id.rawValue, volume: outcome.volume, operationId: outcome.operationId)
                )
            } else {
                failedRepairs[vm.id] = outcome.reasons
            }
        }
        let view = try placementView()
        let vms = try store.vms(ownedBy: node)
        let plan = FailoverPlanner.plan(failing: node, vms: vms, in: view, purpose: .drain)
        var moved: [DrainResponse.Moved] = []
        var stayed = plan.blocked.map {
            DrainResponse.Stayed(
                vm: $0.vmName,
                vmId: $0.vm.rawValue,
                reasons: (failedRepairs[$0.vm] ?? []) + $0.reasons.map(ReasonJSON.init)
            )
        }
        for vm in vms where !view.isHighlyAvailable(vm) {
            stayed.append(
                .init(
                    vm: vm.name,
                    vmId: vm.id.rawValue,
                    reasons: [ReasonJSON(code: "not-highly-available", message: "\(vm.name) is not highly available")]
                )
            )
        }
        for move in plan.moves {
            // Judged again against the cluster as the earlier moves left it.
            let (vm, current) = try judged(move.vm.rawValue)
            let outcome = try await Migrator(coordinator: self, logger: logger)
                .migrate(vm, to: move.target, view: current, requestedBy: actor, kind: .drain)
            if outcome.allowed {
                moved.append(
                    .init(
                        vm: vm.name,
                        vmId: vm.id.rawValue,
                        target: move.target.rawValue,
                        migrationId: outcome.migrationId
                    )
                )
            } else {
                stayed.append(.init(vm: vm.name, vmId: vm.id.rawValue, reasons: outcome.reasons))
            }
        }
        return DrainResponse(
            node: node.rawValue,
            state: NodeState.draining.rawValue,
            moved: moved,
            stayed: stayed,
            repaired: repaired.isEmpty ? nil : repaired
        )
    }
}

/// Runs the failover manager's rounds for the coordinator's lifetime.
struct FailoverLoop: Service {
    let coordinator: Coordinator
    let logger: Logger

    func run() async throws {
        // On a lane of its own: its reads and writes block that thread, never the ones heartbeats are answered on.
        await withTaskExecutorPreference(coordinator.lanes.failover) {
            await cancelWhenGracefulShutdown {
                var repeated = false
                while !Task.isCancelled {
                    // Every half second; sooner when a lease ends before that or a heartbeat brings a lapsed node's
                    // storage heartbeat unchanged for a lease; once more at once when a node was just fenced. With a
                    // 2 s lease the failover is planned within milliseconds of the evidence, not a round later. Never
                    // twice in a row (a store that cannot record the fence would spin).
                    let again = await coordinator.failoverTick(logger: logger)
                    if again, !repeated {
                        repeated = true
                        continue
                    }
                    repeated = false
                    let failover = coordinator.failover
                    await failover.sleep(for: await failover.nextRoundIn(atMost: .milliseconds(500)))
                }
            }
        }
    }
}
