import ChainModel
import DecisionEngine

/// Runs a `Scenario` in virtual time against the real decision engine: the `HAManager` the coordinator runs, the
/// `AgentLease` every agent runs, `FailoverPlanner` for what-if and drain, and `StrandRule` through them.
///
/// What is simulated: the clock (100 ms steps), the network (one step each way, cut by partitions), agent processes
/// (heartbeats, self-fencing, watchdog feeds), watchdogs, the coordinator's fence command and the migration machinery
/// (preflight on the target, release on a live source, adopt, commit). Everything is deterministic: one scenario always
/// gives the same log.
///
/// After every step the invariants are checked, and a breach is logged and kept in `violations`:
/// - no VM runs on two nodes, and a VM runs only on the node the coordinator says owns it;
/// - no VM is moved to a node that cannot reach every one of its files;
/// - no node is declared down while its agent still holds a lease or its VMs still run;
/// - fencing stops no VM whose node can still renew its lease or write its storage heartbeat, unless the VM's
///   isolation response is `stop` (SPEC §6: a coordinator outage stops nothing).
///
/// Storage heartbeats (SPEC §6): every node that shares a volume with another writes its record there every lease/5
/// (unless `storage-heartbeats off`), and reads its peers' records every lease/10, reporting what it read with its
/// heartbeats (at once when a record has just stayed unchanged for a lease).
public struct Simulation: Sendable {
    public private(set) var log: [String] = []
    public private(set) var violations: [String] = []
    /// Every `whatif` the script asked for, in order.
    public private(set) var whatIfs: [FailoverPlan] = []
    /// Every failover that committed, in order: VM name, old node, new node.
    public private(set) var failovers: [(vm: String, from: NodeName, to: NodeName)] = []
    /// VM names held as `failover-blocked`, in the order they were blocked.
    public private(set) var blockedOrder: [String] = []

    static let step = Duration.milliseconds(100)
    static let latency = Duration.milliseconds(100)
    static let commandTimeout = Duration.seconds(5)
    static let tickInterval = Duration.milliseconds(500)
    static let wallBase: Int64 = 1_800_000_000_000

    let scenario: Scenario
    let settings: HASettings
    var now = MonotonicTime(milliseconds: 0)
    var nodes: [NodeName: SimulatedNode] = [:]
    let nodeOrder: [NodeName]
    var definitions: [VMID: VM] = [:]
    var policies: [VMID: PlacementPolicy] = [:]
    var reach: [VolumeID: Set<NodeName>] = [:]

    // The coordinator's store and manager.
    var manager: HAManager
    var nodeStates: [NodeName: NodeState] = [:]
    var owners: [VMID: NodeName] = [:]
    var blocked: [VMID: String] = [:]
    /// The `volume-lost` risks the coordinator's audit shows now, as `VM on VOLUME` (logged when they change).
    var volumeLostShown: Set<String> = []
    var failoverTimes: [VMID: [Timestamp]] = [:]
    var nextTick = MonotonicTime(milliseconds: 0)
    var fenceRuns: [NodeName: MonotonicTime] = [:]
    var migrations: [VMID: Migration] = [:]
    var drainQueue: [FailoverPlan.Move] = []
    var messages: [Message] = []
    var preflightFailures: Set<String> = []
    var adoptFailures: Set<String> = []
    /// Adopts whose hook runs but whose answer is lost (`adopt-answer-lost NODE VM`).
    var adoptAnswersLost: Set<String> = []
    /// Nodes whose fence hook does nothing (for the invariant checker's own test).
    var brokenFenceHooks: Set<NodeName> = []
    /// The coordinator process runs, and (on etcd) can write: heartbeats are answered and decisions made.
    var coordinatorRunning = true
    var quorum = true
    /// Each shared volume's storage heartbeat slots: the record each node last wrote whole there.
    var storage: [VolumeID: [NodeName: StorageHeartbeat]] = [:]

    /// A migration in flight: the real `MigrationMachine`, and the command it waits on.
    struct Migration: Sendable {
        struct Pending: Sendable {
            var command: MigrationMachine.Command
            var node: NodeName
            var dueAt: MonotonicTime
            /// Set when the agent is unreachable: no answer comes, and the command times out at `dueAt`.
            var timesOut = false
        }

        var move: FailoverPlan.Move
        var drain: Bool
        var machine: MigrationMachine
        var pending: Pending?
        /// The command sent last.
        var sent: MigrationMachine.Command?
        /// Why the last answer was no, in the simulator's words (the log's).
        var lastFailure: String?
    }

    enum Message: Sendable {
        case heartbeat(
            from: NodeName,
            sentAt: MonotonicTime,
            writesStorage: Bool,
            readings: [StorageReading],
            arrivesAt: MonotonicTime
        )
        case answer(
            to: NodeName,
            sentAt: MonotonicTime,
            admission: Admission,
            owned: Set<VMID>,
            arrivesAt: MonotonicTime
        )

        var arrivesAt: MonotonicTime {
            switch self {
            case .heartbeat(_, _, _, _, let at), .answer(_, _, _, _, let at): at
            }
        }
    }

    public init(_ scenario: Scenario) {
        self.scenario = scenario
        settings = HASettings(
            leaseTTL: scenario.leaseTTL,
            hasFenceCommand: scenario.fenceCommand != .none,
            failoverEnabled: scenario.failoverEnabled,
            clockMargin: scenario.declareDownEarly.map { .zero - $0 },
            quarantineThreshold: scenario.quarantineThreshold
        )
        manager = HAManager(settings: settings, startedAt: now)
        nodeOrder = scenario.nodes.map(\.name)
        for (index, spec) in scenario.nodes.enumerated() {
            nodes[spec.name] = SimulatedNode(
                name: spec.name,
                memoryMiB: spec.memoryMiB,
                leaseTTL: scenario.leaseTTL,
                firstHeartbeat: MonotonicTime(milliseconds: Int64(index) * 100)
            )
            nodeStates[spec.name] = .up
        }
        for volume in scenario.volumes { reach[VolumeID(volume.name), default: []].formUnion(volume.nodes) }
        for spec in scenario.vms {
            let id = VMID(spec.name)
            let files = spec.files.enumerated().map { index, file -> VMFile in
                if file.hasPrefix("local:") {
                    let node = NodeName(String(file.dropFirst("local:".count)))
                    let path = "/var/lib/local/\(spec.name)/memory\(index).bin"
                    return VMFile(location: .nodeLocal(node, absolutePath: path), path: path, kind: .memory)
                }
                return VMFile(
                    location: .volume(VolumeID(file), relativePath: "\(spec.name)/disk\(index).avhdx"),
                    path: "/mnt/\(file)/\(spec.name)/disk\(index).avhdx",
                    kind: .disk,
                    format: .vhdx
                )
            }
            definitions[id] = VM(
                id: id,
                name: spec.name,
                ownership: Ownership(owner: spec.owner, epoch: .initial),
                state: spec.state,
                highlyAvailable: spec.highlyAvailable,
                memoryMiB: spec.memoryMiB,
                files: files
            )
            policies[id] = spec.policy
            owners[id] = spec.owner
            if spec.state.holdsMemory { nodes[spec.owner]?.running.insert(id) }
            nodes[spec.owner]?.owned.insert(id)
            if let ages = scenario.earlierFailovers[spec.name] {
                failoverTimes[id] = ages.map { wall(at: MonotonicTime(milliseconds: 0)) - $0 }
            }
        }
    }

    /// Runs the whole script and returns the finished simulation.
    public static func run(_ scenario: Scenario) -> Simulation {
        var simulation = Simulation(scenario)
        simulation.run()
        return simulation
    }

    mutating func run() {
        let end = MonotonicTime(milliseconds: 0) + scenario.runFor
        while now <= end {
            for entry in scenario.commands where MonotonicTime(milliseconds: 0) + entry.at == now {
                execute(entry.command)
            }
            deliverMessages()
            finishFenceRuns()
            if coordinatorAvailable { advanceMigrations() }
            if now >= nextTick {
                if coordinatorAvailable {
                    coordinatorTick()
                    auditVolumeLoss()
                }
                nextTick = now + Self.tickInterval
            }
            for name in nodeOrder { storageStep(name) }
            for name in nodeOrder { agentStep(name) }
            for name in nodeOrder { watchdogStep(name) }
            checkInvariants()
            now = now + Self.step
        }
    }

    // MARK: - Log

    mutating func record(_ who: String, _ message: String) {
        let tenths = now.milliseconds / 100
        let time = "\(tenths / 10).\(tenths % 10)"
        log.append(String(repeating: " ", count: max(0, 6 - time.count)) + time + " " + who + ": " + message)
    }

    mutating func violate(_ message: String) {
        violations.append(message)
        record("INVARIANT", message)
    }

    func wall(at time: MonotonicTime) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: Self.wallBase + time.milliseconds)
    }

    // MARK: - Script commands

    mutating func execute(_ command: Scenario.Command) {
        if let name = command.node, nodes[name] == nil {
            record("coordinator", "command refused: no node is named \(name)")
            return
        }
        switch command {
        case .kill(let name):
            record(name.rawValue, "power lost")
            nodes[name]?.powered = false
            nodes[name]?.agentRunning = false
            nodes[name]?.running = []
            nodes[name]?.watchdog = nil
        case .crashAgent(let name):
            record(name.rawValue, "agent process died")
            nodes[name]?.agentRunning = false
        case .pause(let name, let length):
            record(name.rawValue, "agent stopped for \(DurationText.format(length))")
            nodes[name]?.pausedUntil = now + length
        case .partition(let name):
            record(name.rawValue, "network to the coordinator cut")
            nodes[name]?.partitioned = true
        case .heal(let name):
            record(name.rawValue, "network to the coordinator restored")
            nodes[name]?.partitioned = false
        case .boot(let name):
            guard var node = nodes[name] else { return }
            record(name.rawValue, node.powered ? "agent restarted" : "powered on, agent started")
            node.powered = true
            node.agentRunning = true
            node.pausedUntil = nil
            node.lease = AgentLease(leaseTTL: scenario.leaseTTL)
            node.nextHeartbeat = now
            nodes[name] = node
        case .whatIf(let name):
            let plan = FailoverPlanner.plan(
                failing: name,
                vms: vms(ownedBy: name),
                in: view(),
                memory: FailoverMemory(failovers: failoverTimes, blocked: blocked)
            )
            whatIfs.append(plan)
            let moves = plan.moves.map { "\($0.vmName) -> \($0.target)" }.joined(separator: ", ")
            let held = plan.blocked.map { "\($0.vmName) (\(HAAction.summary(of: $0.reasons)))" }
                .joined(separator: ", ")
            record("whatif", "fail \(name): moves [\(moves)] blocked [\(held)]")
        case .drain(let name):
            drain(name)
        case .resume(let name):
            if nodeStates[name] == .draining || nodeStates[name] == .quarantined {
                let ended = nodeStates[name] == .draining ? "the drain" : "the quarantine"
                nodeStates[name] = .up
                record("coordinator", "node \(name) up: an administrator ended \(ended)")
            } else {
                record("coordinator", "resume \(name) refused: it is \(nodeStates[name]?.rawValue ?? "unknown")")
            }
        case .fenceConfirm(let name):
            do {
                let actions = try manager.confirmFenced(name, state: nodeStates[name] ?? .up, at: now)
                apply(actions)
            } catch {
                record("coordinator", "fence-confirm \(name) refused: \(error.code): \(error.message)")
            }
        case .clear(let vmName):
            let id = VMID(vmName)
            blocked[id] = nil
            failoverTimes[id] = nil
            record("coordinator", "vm \(vmName) cleared by an administrator")
        case .preflightFails(let node, let vm):
            preflightFailures.insert("\(node)|\(vm)")
        case .adoptFails(let node, let vm):
            adoptFailures.insert("\(node)|\(vm)")
        case .adoptAnswerLost(let node, let vm):
            adoptAnswersLost.insert("\(node)|\(vm)")
        case .breakFenceHook(let node):
            brokenFenceHooks.insert(node)
        case .restartCoordinator:
            coordinatorStarts("restarted: waits one lease before declaring any node down")
        case .stopCoordinator:
            record("coordinator", "process stopped")
            coordinatorRunning = false
            fenceRuns = [:]
        case .startCoordinator:
            coordinatorRunning = true
            coordinatorStarts("started: waits one lease before declaring any node down")
        case .loseQuorum:
            record("coordinator", "etcd lost its quorum: no lease is renewed, nothing is decided")
            quorum = false
            fenceRuns = [:]
        case .restoreQuorum:
            quorum = true
            coordinatorStarts("etcd has its quorum back: leads again, waits one lease before declaring any node down")
        case .cutStorage(let name):
            record(name.rawValue, "paths to the shared volumes cut")
            nodes[name]?.storageCut = true
        case .restoreStorage(let name):
            record(name.rawValue, "paths to the shared volumes restored")
            nodes[name]?.storageCut = false
        }
    }

    var coordinatorAvailable: Bool { coordinatorRunning && quorum }

    /// A coordinator (re)starts, or leads again: a fresh failover manager, and the journal's migrations recovered from
    /// the state each reached (SPEC §6).
    mutating func coordinatorStarts(_ why: String) {
        record("coordinator", why)
        manager = HAManager(settings: settings, startedAt: now)
        fenceRuns = [:]
        drainQueue = []
        messages.removeAll { if case .heartbeat = $0 { true } else { false } }
        for (vm, migration) in migrations.sorted(by: { $0.key < $1.key }) {
            let state = migration.machine.state
            record(
                "coordinator",
                "migration of \(migration.move.vmName) recovered from the journal at \(state.rawValue)"
            )
            var machine = MigrationMachine(
                recovering: Self.record(of: migration.move, drain: migration.drain, at: state),
                settings: machineSettings
            )
            let actions = machine.start(at: now)
            migrations[vm] = Migration(move: migration.move, drain: migration.drain, machine: machine)
            perform(actions, for: vm)
        }
    }

    // MARK: - Network

    mutating func deliverMessages() {
        let due = messages.filter { $0.arrivesAt <= now }
        messages.removeAll { $0.arrivesAt <= now }
        for message in due {
            switch message {
            case .heartbeat(let from, let sentAt, let writesStorage, let readings, _):
                guard let node = nodes[from], !node.partitioned, coordinatorAvailable else { continue }
                manager.storageRead(readings, at: now)
                let (admission, actions) = manager.heartbeat(
                    from: from,
                    state: nodeStates[from],
                    writesStorage: writesStorage,
                    at: now
                )
                apply(actions)
                let owned = Set(owners.filter { $0.value == from }.keys)
                messages.append(
                    .answer(to: from, sentAt: sentAt, admission: admission, owned: owned, arrivesAt: now + Self.latency)
                )
            case .answer(let to, let sentAt, let admission, let owned, _):
                guard var node = nodes[to], node.reachable(at: now) else { continue }
                if admission.admitted {
                    let wasAdmitted = node.lease.standing == .admitted
                    let wasIsolated = node.lease.condition(at: now) == .isolated
                    node.lease.renewed(sentAt: sentAt)
                    let list = owned.sorted().map(\.rawValue).joined(separator: ", ")
                    if !wasAdmitted, node.lease.standing == .admitted {
                        node.owned = owned
                        nodes[to] = node
                        record("\(to) agent", "admitted; owns [\(list)]")
                    } else if wasIsolated, node.lease.condition(at: now) == .running {
                        // Back from isolation: told again which VMs are still its own (and keeps those it is adopting).
                        node.owned = owned.union(migrations.values.filter { $0.move.target == to }.map(\.move.vm))
                        node.stoppedByIsolation.formIntersection(owned)
                        nodes[to] = node
                        record("\(to) agent", "lease renewed after isolation; owns [\(list)]")
                    }
                } else if node.lease.standing == .admitted {
                    node.lease.fenced(at: now)
                    nodes[to] = node
                    fenceHook(
                        to,
                        "agent",
                        "the coordinator says \(to) is \(admission.state.rawValue): \(admission.message)"
                    )
                }
                nodes[to] = nodes[to].map { current in
                    var updated = current
                    updated.lease = node.lease
                    return updated
                }
            }
        }
    }

    // MARK: - Agents and watchdogs

    mutating func agentStep(_ name: NodeName) {
        guard var node = nodes[name] else { return }
        if let pausedUntil = node.pausedUntil, now == pausedUntil {
            record("\(name) agent", "resumed")
        }
        guard node.agentActive(at: now) else { return }
        let condition = node.lease.condition(at: now)
        if condition != node.condition {
            if condition == .isolated {
                record(
                    "\(name) agent",
                    "isolated: its lease runs out unrenewed, its storage heartbeat is written; its VMs keep running"
                )
            }
            node.condition = condition
        }
        if node.lease.mustFence(at: now) {
            let left = node.lease.expiresAt.map { $0.since(now) } ?? .zero
            node.lease.fenced(at: now)
            node.watchdog = nil
            nodes[name] = node
            fenceHook(
                name,
                "agent",
                left > .zero
                    ? "lease runs out in \(DurationText.format(left)) unrenewed: fencing itself, watchdog disarmed"
                    : "lease ran out while stopped: fencing itself, watchdog disarmed"
            )
            node = nodes[name] ?? node
        }
        if now >= node.nextHeartbeat {
            // An agent that was stopped sends one heartbeat when it resumes, then keeps its rhythm.
            let interval = node.lease.nextHeartbeat(after: scenario.heartbeat, at: now)
            node.nextHeartbeat = max(node.nextHeartbeat + interval, now + Self.step)
            if !node.partitioned {
                messages.append(
                    .heartbeat(
                        from: name,
                        sentAt: now,
                        writesStorage: node.lease.storageWrittenAt != nil,
                        readings: readings(of: node),
                        arrivesAt: now + Self.latency
                    )
                )
            }
        }
        if node.lease.mayFeedWatchdog(at: now) {
            node.watchdog = .init(lastFeed: now, timeout: node.lease.watchdogTimeout)
        }
        nodes[name] = node
    }

    mutating func watchdogStep(_ name: NodeName) {
        guard let node = nodes[name], node.powered, let watchdog = node.watchdog else { return }
        guard now.since(watchdog.lastFeed) > watchdog.timeout else { return }
        nodes[name]?.watchdog = nil
        fenceHook(name, "watchdog", "no feed for \(DurationText.format(watchdog.timeout)): running the fence hook")
    }

    /// The node's fence hook: its VMs stop.
    mutating func fenceHook(_ name: NodeName, _ who: String, _ why: String) {
        if brokenFenceHooks.contains(name) {
            record("\(name) \(who)", why + "; the fence hook stopped nothing")
            return
        }
        checkFenceStopsOnlyTheCutOff(name, stopping: nodes[name]?.running ?? [])
        let stopped = nodes[name]?.running.sorted().map(\.rawValue) ?? []
        nodes[name]?.running = []
        record("\(name) \(who)", why + (stopped.isEmpty ? "" : "; stopped [\(stopped.joined(separator: ", "))]"))
    }

    // MARK: - Coordinator

    func vms(ownedBy node: NodeName) -> [VM] {
        owners.filter { $0.value == node }.keys.sorted().compactMap { id in
            guard var vm = definitions[id] else { return nil }
            vm.ownership.owner = node
            return vm
        }
    }

    func view() -> ClusterView {
        let wallNow = wall(at: now)
        return ClusterView(
            now: wallNow,
            nodes: nodeOrder.map { name in
                Node(
                    name: name,
                    state: nodeStates[name] ?? .up,
                    memoryMiB: nodes[name]?.memoryMiB,
                    lastInventoryAt: wallNow,
                    lastHeartbeatAt: wallNow
                )
            },
            volumes: reach.keys.sorted().map { Volume(id: $0, name: $0.rawValue) },
            mounts: reach.sorted(by: { $0.key < $1.key }).flatMap { volume, names in
                names.sorted().map {
                    VolumeMount(volume: volume, node: $0, mountPath: "/mnt/\(volume)", lastProbeAt: wallNow)
                }
            },
            placements: owners.keys.sorted().compactMap { id in
                guard var vm = definitions[id], let owner = owners[id] else { return nil }
                vm.ownership.owner = owner
                return VMPlacement(vm)
            },
            policies: policies,
            classes: scenario.classes,
            operationsInProgress: Set(migrations.keys)
        )
    }

    mutating func coordinatorTick() {
        let snapshot = self
        let actions = manager.tick(
            at: now,
            view: view(),
            memory: FailoverMemory(failovers: failoverTimes, blocked: blocked),
            vmsOwnedBy: { snapshot.vms(ownedBy: $0) }
        )
        apply(actions)
    }

    mutating func apply(_ actions: [HAAction]) {
        for action in actions {
            record("coordinator", action.description)
            switch action {
            case .setState(let name, let state, _):
                nodeStates[name] = state
                if state == .down { checkDeclaredDown(name) }
            case .runFence(let name):
                fenceRuns[name] = now + .seconds(1)
            case .failover(let move):
                startMigration(move, drain: false)
            case .block(let held):
                blocked[held.vm] = HAAction.summary(of: held.reasons)
                blockedOrder.append(held.vmName)
            }
        }
    }

    mutating func finishFenceRuns() {
        for (name, due) in fenceRuns.sorted(by: { $0.key < $1.key }) where due <= now {
            fenceRuns[name] = nil
            let succeeded = scenario.fenceCommand == .ok
            if succeeded {
                checkFenceStopsOnlyTheCutOff(name, stopping: nodes[name]?.running ?? [])
                nodes[name]?.powered = false
                nodes[name]?.agentRunning = false
                nodes[name]?.running = []
                nodes[name]?.watchdog = nil
                record("coordinator", "fence command powered \(name) off")
            } else {
                record(
                    "coordinator",
                    "fence command for \(name) failed; retried in \(DurationText.format(settings.fenceRetry))"
                )
            }
            apply(manager.fenceFinished(name, succeeded: succeeded, state: nodeStates[name], at: now))
        }
    }

    mutating func drain(_ name: NodeName) {
        guard nodeStates[name] == .up else {
            record("coordinator", "drain \(name) refused: it is \(nodeStates[name]?.rawValue ?? "unknown")")
            return
        }
        let plan = FailoverPlanner.plan(failing: name, vms: vms(ownedBy: name), in: view(), purpose: .drain)
        nodeStates[name] = .draining
        record("coordinator", "node \(name) draining: \(plan.moves.count) to move, \(plan.blocked.count) stay")
        for held in plan.blocked {
            record("coordinator", "drain \(name): \(held.vmName) stays: \(HAAction.summary(of: held.reasons))")
        }
        let snapshot = view()
        for vm in vms(ownedBy: name) where !snapshot.isHighlyAvailable(vm) {
            record("coordinator", "drain \(name): \(vm.name) stays: not highly available")
        }
        drainQueue += plan.moves
        startNextDrainMove()
    }

    mutating func startNextDrainMove() {
        guard !drainQueue.isEmpty, !migrations.values.contains(where: \.drain) else { return }
        let move = drainQueue.removeFirst()
        record("coordinator", "drain migration \(move.vmName): \(move.from) -> \(move.target)")
        startMigration(move, drain: true)
    }

    static func record(of move: FailoverPlan.Move, drain: Bool, at state: MigrationRecord.State) -> MigrationRecord {
        MigrationRecord(
            id: move.vm.rawValue,
            vm: move.vm,
            vmName: move.vmName,
            kind: drain ? .drain : .failover,
            source: move.from,
            target: move.target,
            epoch: .initial,
            state: state,
            requestedBy: drain ? "admin" : "failover",
            createdAt: Timestamp(millisecondsSinceEpoch: wallBase),
            updatedAt: Timestamp(millisecondsSinceEpoch: wallBase),
            steps: []
        )
    }

    var machineSettings: MigrationMachine.Settings {
        MigrationMachine.Settings(commandTimeout: Self.commandTimeout, leaseTTL: scenario.leaseTTL)
    }

    /// A migration journaled at `planned`: the coordinator's machine takes it from there.
    mutating func startMigration(_ move: FailoverPlan.Move, drain: Bool) {
        var machine = MigrationMachine(
            planned: Self.record(of: move, drain: drain, at: .planned),
            settings: machineSettings
        )
        let actions = machine.start(at: now)
        migrations[move.vm] = Migration(move: move, drain: drain, machine: machine)
        perform(actions, for: move.vm)
    }

    /// Carries out the machine's actions, as the coordinator's `MigrationRunner` does: a command is answered one
    /// network round trip later (`advanceMigrations`), a commit moves the VM.
    mutating func perform(_ actions: [MigrationMachine.Action], for vm: VMID) {
        for action in actions {
            guard var migration = migrations[vm] else { return }
            switch action {
            case .journal, .abort:
                continue
            case .send(let command, let node, let after):
                // Sent again: "not yet" after the release (lines only the real machine's retry rule produces).
                if migration.sent == command {
                    record(
                        "coordinator",
                        "\(migration.move.vmName): \(command.rawValue) sent to \(node) again (not yet: "
                            + "\(migration.lastFailure ?? "no answer"))"
                    )
                } else if command == .adoptBack {
                    record(
                        "coordinator",
                        "\(migration.move.vmName): \(migration.move.target) did not adopt it and is "
                            + "\(nodeStates[migration.move.target]?.rawValue ?? "gone"); asking \(node) to adopt it back"
                    )
                }
                migration.sent = command
                migration.pending = .init(command: command, node: node, dueAt: now + after + Self.latency * 2)
                migrations[vm] = migration
            case .commit:
                commit(vm, migration)
            case .finish(.committed):
                continue
            case .finish(let outcome):
                // The log names the agent's own reason for a no; an adopt back is the machine's to tell.
                let failure =
                    if case .abortedAfterRelease(let reason, adoptedBack: true) = outcome {
                        reason
                    } else {
                        migration.lastFailure ?? outcome.reason ?? "aborted"
                    }
                finish(vm, migration, failure: failure, outcome: outcome)
            }
        }
    }

    mutating func advanceMigrations() {
        for (vm, var migration) in migrations.sorted(by: { $0.key < $1.key }) {
            guard var pending = migration.pending, pending.dueAt <= now else { continue }
            let move = migration.move
            let node = pending.node
            migration.pending = nil
            let answer: MigrationMachine.Answer?
            if pending.timesOut {
                answer = nil
                migration.lastFailure = "\(node)'s agent did not answer"
            } else if nodes[node]?.reachable(at: now) != true {
                pending.timesOut = true
                pending.dueAt = now + Self.commandTimeout
                migration.pending = pending
                migrations[vm] = migration
                continue
            } else if nodes[node]?.acts(at: now) != true {
                answer = .init(ok: false, notAdmitted: true, message: "no lease", reasonCodes: ["not-admitted"])
                migration.lastFailure = "\(node)'s agent holds no lease"
            } else if pending.command == .adopt, adoptAnswersLost.remove("\(node)|\(move.vmName)") != nil {
                // The adopt hook runs and starts the VM; its answer never reaches the coordinator.
                nodes[node]?.owned.insert(vm)
                if definitions[vm]?.state.holdsMemory == true { nodes[node]?.running.insert(vm) }
                record("\(node) agent", "adopted \(move.vmName) and started it; the answer is lost")
                pending.timesOut = true
                pending.dueAt = now + Self.commandTimeout
                migration.pending = pending
                migrations[vm] = migration
                continue
            } else {
                (answer, migration.lastFailure) = agentAnswers(pending.command, for: vm, move: move)
            }
            var machine = migration.machine
            let actions = machine.answered(answer, at: now, target: evidence(about: pending.node, for: vm))
            migration.machine = machine
            migrations[vm] = migration
            perform(actions, for: vm)
        }
    }

    /// What the agent does with a command it acts on, and (for a no) why, in the log's words.
    mutating func agentAnswers(
        _ command: MigrationMachine.Command,
        for vm: VMID,
        move: FailoverPlan.Move
    ) -> (MigrationMachine.Answer, String?) {
        switch command {
        case .preflight:
            if let missing = unreachableFile(vm, from: move.target) {
                return (
                    .init(ok: false, reasonCodes: [ReasonCode.fileOnLocalVolume.rawValue]),
                    "\(move.target)'s preflight cannot reach \(missing)"
                )
            }
            if preflightFailures.contains("\(move.target)|\(move.vmName)") {
                return (
                    .init(ok: false, reasonCodes: [ReasonCode.preflightFailed.rawValue]),
                    "\(move.target)'s preflight refused \(move.vmName)"
                )
            }
            return (.init(ok: true), nil)
        case .release:
            nodes[move.from]?.owned.remove(vm)
            nodes[move.from]?.running.remove(vm)
            return (.init(ok: true), nil)
        case .adopt:
            if adoptFailures.contains("\(move.target)|\(move.vmName)") {
                return (
                    .init(ok: false, message: "the adopt hook failed"), "\(move.target) could not adopt \(move.vmName)"
                )
            }
            return (.init(ok: true), nil)
        case .adoptBack:
            nodes[move.from]?.owned.insert(vm)
            if definitions[vm]?.state.holdsMemory == true { nodes[move.from]?.running.insert(vm) }
            return (.init(ok: true), nil)
        case .apply:
            // The simulator runs moves only; an operation's apply never reaches it.
            return (.init(ok: false, message: "the simulator runs no operations"), "no operations in the simulator")
        }
    }

    mutating func commit(_ vm: VMID, _ migration: Migration) {
        let move = migration.move
        migrations[vm] = nil
        if let missing = unreachableFile(vm, from: move.target) {
            violate("\(move.vmName) moved to \(move.target), which cannot reach \(missing)")
        }
        owners[vm] = move.target
        nodes[move.target]?.owned.insert(vm)
        if definitions[vm]?.state.holdsMemory == true { nodes[move.target]?.running.insert(vm) }
        if migration.drain {
            record("coordinator", "drain migration \(move.vmName) committed: \(move.target) owns it")
            startNextDrainMove()
        } else {
            failoverTimes[vm, default: []].append(wall(at: now))
            failovers.append((move.vmName, move.from, move.target))
            record("coordinator", "failover \(move.vmName) committed: \(move.target) owns it")
            apply(manager.failoverFinished(vm, outcome: .committed))
        }
    }

    mutating func finish(
        _ vm: VMID,
        _ migration: Migration,
        failure: String,
        outcome: MigrationMachine.Outcome
    ) {
        migrations[vm] = nil
        let move = migration.move
        if migration.drain {
            record("coordinator", "drain migration \(move.vmName) aborted: \(failure)")
            startNextDrainMove()
            return
        }
        record("coordinator", "failover \(move.vmName) to \(move.target) aborted: \(failure)")
        let result: FailoverOutcome =
            if case .abortedAfterRelease = outcome {
                .failed(Reason(code: .adoptFailed, message: failure))
            } else {
                .refused([Reason(code: .preflightFailed, message: failure)])
            }
        apply(manager.failoverFinished(vm, outcome: result))
    }

    /// The first file of the VM the node cannot reach (the simulated preflight, independent of the engine).
    func unreachableFile(_ vm: VMID, from node: NodeName) -> String? {
        for file in definitions[vm]?.files ?? [] {
            switch file.location {
            case .volume(let volume, _):
                if reach[volume]?.contains(node) != true { return file.path }
            case .nodeLocal(let owner, _):
                if owner != node { return file.path }
            }
        }
        return nil
    }

    // MARK: - Invariants

    mutating func checkDeclaredDown(_ name: NodeName) {
        guard let node = nodes[name], node.powered else { return }
        if !node.running.isEmpty {
            violate("\(name) declared down while it still runs \(node.running.sorted().map(\.rawValue))")
        }
        if node.agentRunning, let expires = node.lease.expiresAt, expires > now {
            violate("\(name) declared down \(DurationText.format(expires.since(now))) before its lease runs out")
        }
    }

    mutating func checkInvariants() {
        var runningOn: [VMID: [NodeName]] = [:]
        for name in nodeOrder {
            for vm in nodes[name]?.running ?? [] { runningOn[vm, default: []].append(name) }
        }
        for (vm, names) in runningOn.sorted(by: { $0.key < $1.key }) {
            if names.count > 1 {
                violate("\(vm) runs on \(names.map(\.rawValue).joined(separator: " and "))")
            } else if let name = names.first, owners[vm] != name,
                migrations[vm].map({ $0.move.target == name && $0.machine.state == .sourceReleased }) != true
            {
                violate("\(vm) runs on \(name) but \(owners[vm]?.rawValue ?? "nobody") owns it")
            }
        }
    }
}
