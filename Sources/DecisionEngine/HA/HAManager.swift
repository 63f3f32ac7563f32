import ChainModel

/// The coordinator's failover manager (SPEC §6) as a pure state machine: leases on the coordinator's monotonic clock,
/// when a node is down, fencing before failover, which VM goes where, and readmission.
///
/// It reads no clock and performs nothing: the shell (the coordinator, or the simulator) hands it times, heartbeats and
/// outcomes, and carries out the `HAAction`s it returns. Node states live in the shell's store and come back in the
/// `ClusterView`; what lives here (renewal times, fence commands and failovers under way, refused targets) is what a
/// restarted coordinator may forget, because it first waits one full lease.
///
/// The order it keeps: a node is declared down only after its lease plus a clock margin has run out (the agent has
/// fenced itself by then, SPEC §6); with a fence command, that command must succeed (or an administrator confirm)
/// before the node counts as fenced; only a fenced node's VMs fail over; a fenced node is readmitted only when none of
/// its VMs is still failing over.
///
/// Isolation (SPEC §6): a node whose agent writes storage heartbeats is declared down only on positive evidence, a
/// peer's report that its record has been unchanged for more than a lease, received after its lease ran out; until
/// then it is `isolated` (its VMs keep running and stay put, except those its record lists stopped). No report is not
/// evidence. Nodes isolated or down too often are quarantined when they come back.
public struct HAManager: Sendable {
    public let settings: HASettings
    /// When this coordinator started (or became leader): nothing is declared down for one full lease after it.
    public let startedAt: MonotonicTime
    private var renewals: [NodeName: MonotonicTime] = [:]
    private var fencing: Set<NodeName> = []
    private var fenceFailedAt: [NodeName: MonotonicTime] = [:]
    /// Failovers under way, by VM.
    public private(set) var inFlight: [VMID: FailoverPlan.Move] = [:]
    private var refused: [VMID: [NodeName: [Reason]]] = [:]
    /// Nodes whose agents write storage heartbeats (they said so, or a peer read their record).
    private var writers: Set<NodeName> = []
    /// The latest reading of each node's record, per volume and reader, with when it arrived.
    private var readings: [NodeName: [ReadingKey: (reading: StorageReading, at: MonotonicTime)]] = [:]
    /// When each node was isolated or declared down, for quarantine.
    private var flaps: [NodeName: [MonotonicTime]] = [:]

    private struct ReadingKey: Hashable, Sendable {
        var volume: VolumeID
        var reader: NodeName
    }
    /// Grows with every change that can make a plan computed meanwhile unsafe to carry out (a readmission, an ended
    /// failover or fence command, an administrator's confirmation, a forgotten node): `record` drops such a plan.
    private var revision = 0

    public init(settings: HASettings, startedAt: MonotonicTime) {
        self.settings = settings
        self.startedAt = startedAt
    }

    /// Whether the start-up wait of one lease is over.
    public func pastStartupWait(at now: MonotonicTime) -> Bool { now >= startedAt + settings.leaseTTL }

    /// Time left on the node's lease as the coordinator counts it (negative once it ran out), or `nil` when this
    /// coordinator has not heard from it.
    public func leaseExpiresIn(_ node: NodeName, at now: MonotonicTime) -> Duration? {
        renewals[node].map { ($0 + settings.leaseTTL).since(now) }
    }

    /// The first moment after `now` at which a lease this manager counts ends past its clock margin, so a round then
    /// declares that node down (`decide` waits for the instant strictly after it); `nil` when no lease is running.
    ///
    /// The shell wakes for it instead of finding the node at its next regular round: with a 2 s lease, half a second
    /// of polling would be a quarter of the failover time.
    public func nextLeaseDeadline(after now: MonotonicTime) -> MonotonicTime? {
        var earliest: MonotonicTime?
        for renewal in renewals.values {
            let deadline = renewal + settings.leaseTTL + settings.clockMargin + .milliseconds(1)
            if deadline > now, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
        }
        if !pastStartupWait(at: now) {
            let end = startedAt + settings.leaseTTL
            if earliest.map({ end < $0 }) ?? true { earliest = end }
        }
        return earliest
    }

    /// Whether a fence command for the node is running.
    public func isFencing(_ node: NodeName) -> Bool { fencing.contains(node) }

    // MARK: - Heartbeats

    /// A heartbeat from `node`, whose stored state is `state` (`nil` for a node the cluster has not seen: it joins
    /// up).
    ///
    /// An up or draining node has its lease renewed. A down node (never fenced, so none of its VMs moved) is
    /// readmitted unless the fence command is running; a fenced node once none of its VMs is still failing over.
    public mutating func heartbeat(
        from node: NodeName,
        state: NodeState?,
        writesStorage: Bool = false,
        at now: MonotonicTime
    ) -> (admission: Admission, actions: [HAAction]) {
        if writesStorage { writers.insert(node) }
        switch state {
        case nil, .up, .draining, .quarantined:
            renewals[node] = now
            return (Admission(admitted: true, state: state ?? .up, message: "lease renewed"), [])
        case .isolated:
            renewals[node] = now
            revision += 1
            let back = returning(node, at: now)
            return (
                Admission(admitted: true, state: back, message: "lease renewed after isolation; its VMs kept running"),
                [.setState(node, back, because: "its agent reaches the coordinator again; its VMs kept running")]
            )
        case .down:
            if fencing.contains(node) {
                return (
                    Admission(
                        admitted: false,
                        state: .down,
                        message: "the coordinator is fencing \(node); it is readmitted once the fence command ends"
                    ), []
                )
            }
            renewals[node] = now
            fenceFailedAt[node] = nil
            revision += 1
            let back = returning(node, at: now)
            return (
                Admission(
                    admitted: true,
                    state: back,
                    message: "readmitted before it was fenced; none of its VMs moved"
                ),
                [.setState(node, back, because: "its agent is back before it was fenced; none of its VMs moved")]
            )
        case .fenced:
            let moving = inFlight.values.filter { $0.from == node }.count
            if moving > 0 {
                return (
                    Admission(
                        admitted: false,
                        state: .fenced,
                        message: "\(moving) of \(node)'s VMs are still failing over; readmission waits for them"
                    ), []
                )
            }
            renewals[node] = now
            revision += 1
            let back = returning(node, at: now)
            return (
                Admission(admitted: true, state: back, message: "readmitted after fencing"),
                [
                    .setState(
                        node,
                        back,
                        because: "readmitted: its agent is back and no failover of its VMs is under way"
                    )
                ]
            )
        }
    }

    /// The state a node comes back in: `quarantined` once it has been isolated or down more than the threshold within
    /// the window, else `up`.
    private func returning(_ node: NodeName, at now: MonotonicTime) -> NodeState {
        let recent = (flaps[node] ?? []).filter { now.since($0) <= settings.quarantineWindow }
        return recent.count > settings.quarantineThreshold ? .quarantined : .up
    }

    private mutating func flapped(_ node: NodeName, at now: MonotonicTime) {
        var times = (flaps[node] ?? []).filter { now.since($0) <= settings.quarantineWindow }
        times.append(now)
        flaps[node] = times
    }

    // MARK: - Storage heartbeats

    /// Readings of other nodes' storage heartbeat records, reported by `reader` (with its heartbeat).
    public mutating func storageRead(_ reported: [StorageReading], at now: MonotonicTime) {
        for reading in reported where reading.node != reading.reader {
            if reading.record != nil { writers.insert(reading.node) }
            readings[reading.node, default: [:]][ReadingKey(volume: reading.volume, reader: reading.reader)] = (
                reading, now
            )
        }
    }

    /// Positive evidence that `node` is down: a reading received after its lease ran out, of a record unchanged for
    /// more than a lease (the agent fences itself at 4/5 of a lease without lease and storage heartbeat), on a volume
    /// both it and the reader mount (an agent counts its storage heartbeat only when it reached every such volume), and
    /// no reader saying otherwise within the last lease: one agent's word that a record is stale never outweighs
    /// another's that it is fresh.
    func downEvidence(
        _ node: NodeName,
        leaseEnded: MonotonicTime,
        at now: MonotonicTime,
        in view: ClusterView
    )
        -> StorageReading?
    {
        guard freshReading(node, at: now) == nil else { return nil }
        return (readings[node] ?? [:]).values
            .filter { $0.at >= leaseEnded && $0.reading.unchangedFor > settings.leaseTTL }
            .map(\.reading)
            .filter { view.mounts[$0.volume]?[node] != nil && view.mounts[$0.volume]?[$0.reader] != nil }
            .min { ($0.volume, $0.reader) < ($1.volume, $1.reader) }
    }

    /// The freshest reading of `node`'s record that arrived within the last lease and shows it written within a lease.
    func freshReading(_ node: NodeName, at now: MonotonicTime) -> StorageReading? {
        (readings[node] ?? [:]).values
            .filter { now.since($0.at) <= settings.leaseTTL && $0.reading.unchangedFor <= settings.leaseTTL }
            .map(\.reading)
            .min { ($0.unchangedFor, $0.volume, $0.reader) < ($1.unchangedFor, $1.volume, $1.reader) }
    }

    /// The newest whole record of `node` any reader reported (by counter).
    func latestRecord(_ node: NodeName) -> StorageHeartbeat? {
        (readings[node] ?? [:]).values.compactMap(\.reading.record).max { $0.counter < $1.counter }
    }

    /// Whether `vm` (of `node`) is listed stopped at `epoch` in the node's newest record.
    public func recordLists(_ node: NodeName, _ vm: VMID, stoppedAt epoch: Epoch) -> Bool {
        latestRecord(node)?.lists(vm, stoppedAt: epoch) ?? false
    }

    // MARK: - The periodic decision

    /// Declares nodes down, starts fencing, and plans the failover of every fenced node's VMs: `decide`, `plan` and
    /// `record` in one step.
    ///
    /// `vmsOwnedBy` gives a node's VMs in full (only asked for fenced nodes); `memory` the counted failovers and held
    /// VMs from the store.
    public mutating func tick(
        at now: MonotonicTime,
        view: ClusterView,
        memory: FailoverMemory,
        vmsOwnedBy: (NodeName) -> [VM]
    ) -> [HAAction] {
        let (actions, request) = decide(at: now, view: view, memory: memory, vmsOwnedBy: vmsOwnedBy)
        guard let request else { return actions }
        return actions + (record(Self.plan(request), for: request) ?? [])
    }

    /// What a round leaves to plan: the fenced nodes' waiting VMs, in the view as this round left it.
    public struct PlanRequest: Sendable {
        public var failing: [NodeName]
        public var vms: [VM]
        /// The cluster as the round read it; the moves in flight are placed on their targets by `plan`.
        public var view: ClusterView
        public var memory: FailoverMemory
        /// Failovers under way, counted against their targets' load before anything else is placed.
        ///
        /// Placed by `plan`, outside whatever holds the manager: placing them copies the view's placements (80,000 at
        /// 640 nodes).
        public var inFlight: [FailoverPlan.Move] = []
        let revision: Int
    }

    /// The first part of a round: declares nodes down and starts fencing, and says what to plan when a fenced node has
    /// VMs waiting.
    ///
    /// Quick: the plan itself (`plan`, the strand rule for every waiting VM on every candidate) can take seconds for
    /// thousands of VMs, and is computed outside whatever holds this manager.
    public mutating func decide(
        at now: MonotonicTime,
        view: ClusterView,
        memory: FailoverMemory,
        vmsOwnedBy: (NodeName) -> [VM]
    ) -> (actions: [HAAction], request: PlanRequest?) {
        guard pastStartupWait(at: now) else { return ([], nil) }
        var view = view
        var actions: [HAAction] = []
        for node in view.nodes.values.sorted(by: { $0.name < $1.name }) {
            switch node.state {
            case .up, .draining, .quarantined:
                let leaseEnded = (renewals[node.name] ?? startedAt) + settings.leaseTTL
                guard now > leaseEnded + settings.clockMargin else { continue }
                let ran =
                    renewals[node.name].map { _ in "its lease ran out \(Self.format(now.since(leaseEnded))) ago" }
                    ?? "no heartbeat since the coordinator started \(Self.format(now.since(startedAt))) ago"
                flapped(node.name, at: now)
                if writers.contains(node.name),
                    downEvidence(node.name, leaseEnded: leaseEnded, at: now, in: view) == nil
                {
                    let because =
                        freshReading(node.name, at: now).map {
                            "\(ran), but \($0.reader) reads its storage heartbeat on \($0.volume) (unchanged for "
                                + "\(Self.format($0.unchangedFor))): its VMs keep running, unmonitored"
                        } ?? "\(ran), and no peer has reported its storage heartbeat (no report is not evidence)"
                    actions.append(.setState(node.name, .isolated, because: because))
                    view.nodes[node.name]?.state = .isolated
                    continue
                }
                let because =
                    downEvidence(node.name, leaseEnded: leaseEnded, at: now, in: view).map {
                        "\(ran), and \($0.reader) reads its storage heartbeat on \($0.volume) unchanged for "
                            + Self.format($0.unchangedFor)
                    } ?? ran
                actions.append(.setState(node.name, .down, because: because))
                view.nodes[node.name]?.state = .down
                actions += beginFence(node.name, view: &view)
            case .isolated:
                let leaseEnded = (renewals[node.name] ?? startedAt) + settings.leaseTTL
                guard let evidence = downEvidence(node.name, leaseEnded: leaseEnded, at: now, in: view) else {
                    continue
                }
                actions.append(
                    .setState(
                        node.name,
                        .down,
                        because: "\(evidence.reader) reads its storage heartbeat on \(evidence.volume) unchanged for "
                            + "\(Self.format(evidence.unchangedFor)): it is no longer isolated but down"
                    )
                )
                view.nodes[node.name]?.state = .down
                actions += beginFence(node.name, view: &view)
            case .down:
                // After a coordinator restart, or a failed fence command whose retry time came.
                guard !fencing.contains(node.name) else { continue }
                if let failed = fenceFailedAt[node.name], now < failed + settings.fenceRetry { continue }
                actions += beginFence(node.name, view: &view)
            case .fenced:
                continue
            }
        }
        guard settings.failoverEnabled else { return (actions, nil) }
        let fenced = view.nodes.values.filter { $0.state == .fenced }.map(\.name).sorted()
        // An isolated node's VMs stay where they are, except those its record lists stopped at their epoch.
        let isolated = view.nodes.values.filter { $0.state == .isolated }.map(\.name).sorted()
        let stopped = isolated.flatMap(vmsOwnedBy).filter {
            recordLists($0.owner, $0.id, stoppedAt: $0.ownership.epoch)
        }
        guard !fenced.isEmpty || !stopped.isEmpty else { return (actions, nil) }
        let waiting = (fenced.flatMap(vmsOwnedBy) + stopped).filter { vm in
            inFlight[vm.id] == nil && !view.operationsInProgress.contains(vm.id)
        }
        guard !waiting.isEmpty else { return (actions, nil) }
        var planMemory = memory
        planMemory.refused = refused
        let failing = (fenced + isolated).sorted()
        return (
            actions,
            PlanRequest(
                failing: failing,
                vms: waiting,
                view: view,
                memory: planMemory,
                inFlight: Array(inFlight.values),
                revision: revision
            )
        )
    }

    /// The failover plan for a request: pure, and safe to compute anywhere.
    public static func plan(_ request: PlanRequest) -> FailoverPlan {
        var view = request.view
        for move in request.inFlight { view.place(move.vm, on: move.target) }
        return FailoverPlanner.plan(failing: request.failing, vms: request.vms, in: view, memory: request.memory)
    }

    /// The last part of a round: the moves to start and the VMs to hold.
    ///
    /// A plan computed while something changed that could make it unsafe (a fenced node readmitted, a failover or fence
    /// command ended) is dropped, and `nil` says so: the next round plans again.
    public mutating func record(_ plan: FailoverPlan, for request: PlanRequest) -> [HAAction]? {
        guard request.revision == revision else { return nil }
        var actions: [HAAction] = []
        for move in plan.moves where inFlight[move.vm] == nil {
            inFlight[move.vm] = move
            actions.append(.failover(move))
        }
        for blocked in plan.blocked where request.memory.blocked[blocked.vm] == nil {
            refused[blocked.vm] = nil
            actions.append(.block(blocked))
        }
        return actions
    }

    private mutating func beginFence(_ node: NodeName, view: inout ClusterView) -> [HAAction] {
        if settings.hasFenceCommand {
            fencing.insert(node)
            return [.runFence(node)]
        }
        view.nodes[node]?.state = .fenced
        return [
            .setState(
                node,
                .fenced,
                because:
                    "its lease ran out, so its agent and its watchdog have fenced it (no fence command is configured)"
            )
        ]
    }

    // MARK: - Outcomes

    /// The fence command for `node` ended; `state` is the node's stored state now.
    public mutating func fenceFinished(
        _ node: NodeName,
        succeeded: Bool,
        state: NodeState?,
        at now: MonotonicTime
    ) -> [HAAction] {
        revision += 1
        fencing.remove(node)
        guard succeeded else {
            fenceFailedAt[node] = now
            return []
        }
        fenceFailedAt[node] = nil
        guard state == .down else { return [] }
        return [.setState(node, .fenced, because: "the fence command succeeded")]
    }

    /// A failover the manager asked for ended.
    public mutating func failoverFinished(_ vm: VMID, outcome: FailoverOutcome) -> [HAAction] {
        revision += 1
        guard let move = inFlight.removeValue(forKey: vm) else { return [] }
        switch outcome {
        case .committed:
            refused[vm] = nil
            return []
        case .refused(let reasons) where reasons.contains(where: { $0.code == .sourceAlive }):
            // The target read the source alive (SPEC §6): not a refusal of that target, only a wait; the next plan
            // tries again, and the source's record ages past the lease once it truly stopped.
            return []
        case .refused(let reasons):
            refused[vm, default: [:]][move.target] = reasons
            return []
        case .failed(let reason):
            refused[vm] = nil
            return [.block(.init(vm: vm, vmName: move.vmName, from: move.from, reasons: [reason]))]
        }
    }

    // MARK: - Administrators

    /// `node fence-confirm`: an administrator says the node is off.
    ///
    /// Refused while its lease is still valid.
    public mutating func confirmFenced(
        _ node: NodeName,
        state: NodeState,
        at now: MonotonicTime
    ) throws(HARefusal) -> [HAAction] {
        revision += 1
        switch state {
        case .fenced:
            return []
        case .isolated:
            if let fresh = freshReading(node, at: now) {
                throw HARefusal(
                    "node-isolated",
                    "\(node) is isolated, not off: \(fresh.reader) reads its storage heartbeat on \(fresh.volume) "
                        + "(unchanged for \(Self.format(fresh.unchangedFor))), so its VMs may still run. Restore its "
                        + "network to the coordinator, or power it off and wait until its record is older than a lease"
                )
            }
            fencing.remove(node)
            fenceFailedAt[node] = nil
            return [.setState(node, .fenced, because: "an administrator confirmed it is off")]
        case .down:
            fencing.remove(node)
            fenceFailedAt[node] = nil
            return [.setState(node, .fenced, because: "an administrator confirmed it is off")]
        case .up, .draining, .quarantined:
            if let left = leaseExpiresIn(node, at: now), left + settings.clockMargin >= .zero {
                throw HARefusal(
                    "node-alive",
                    "\(node) holds a lease for another \(Self.format(max(left, .zero))); confirming it off now could "
                        + "start its VMs twice. Stop its agent (its watchdog fences it) and wait for the lease to run out"
                )
            }
            if !pastStartupWait(at: now), renewals[node] == nil {
                throw HARefusal(
                    "node-alive",
                    "the coordinator started less than a lease ago and cannot yet tell whether \(node) is alive; "
                        + "try again in \(Self.format(startedAt.since(now) + settings.leaseTTL))"
                )
            }
            return [.setState(node, .fenced, because: "an administrator confirmed it is off")]
        }
    }

    /// `node remove`: the manager forgets the node.
    public mutating func forget(_ node: NodeName) {
        revision += 1
        renewals[node] = nil
        writers.remove(node)
        readings[node] = nil
        flaps[node] = nil
        fencing.remove(node)
        fenceFailedAt[node] = nil
    }

    static func format(_ duration: Duration) -> String {
        let ms = duration.wholeMilliseconds
        return "\(ms / 1000).\(String(ms % 1000 / 100))s"
    }
}
