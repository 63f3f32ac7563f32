import ChainModel
import Crypto
import DecisionEngine
import Foundation
import Synchronization

/// The failover manager's memory in the coordinator: the pure `HAManager`, driven on this process's monotonic clock.
///
/// An actor so that heartbeats (HTTP requests), the periodic tick and finishing fence commands and failovers never
/// interleave inside the manager. What it holds is what a restart may forget: the new process waits one lease first.
///
/// A default actor runs on the preferred executor of the task that calls it: failovers call it from the global
/// executor (`Coordinator.apply`), never from a lane whose threads block in database reads, where heartbeats waited
/// behind a dead node's failovers for seconds (issue 27: p99 3.2 s at 640 nodes). A thread of its own (a NIO event
/// loop as its executor) was tried and measured slower: each call woke another thread, and coordinator takeovers under
/// load took a second longer.
actor FailoverState {

    private var manager: HAManager
    private let origin = ContinuousClock.now
    /// When each node's heartbeat was last written to the database (it is kept for `nodes`, not for leases).
    private var heartbeatWritten: [NodeName: MonotonicTime] = [:]
    /// The store's commit count when the failover was last planned: nothing to plan again until it changes.
    private var plannedAtCommit: Int?

    private let settings: HASettings
    /// The volumes each node shares with another, as of the last round (told to agents in heartbeat answers).
    private var shared: [NodeName: [String]] = [:]
    /// Whose storage heartbeat each node reads, as of the last round (`StorageReaders`).
    private var readPeers: [NodeName: [String]] = [:]
    private var observed = false
    /// Stopped VMs listed in the storage heartbeat records last reported, by node: a change plans again.
    private var stoppedListed: [NodeName: Set<String>] = [:]
    /// Each node's HA VMs whose isolation response is `stop`, with the list's digest, as of the store's commit count
    /// `isolationStopsAt` (`nil`: not read yet in this term; agents keep the list they have).
    private var isolationStops: [NodeName: IsolationStopList] = [:]
    private var isolationStopsAt: Int?

    /// A node's `stop` VMs as a heartbeat answer carries them.
    struct IsolationStopList: Sendable, Equatable {
        var vms: [String]
        var digest: String

        static let empty = IsolationStopList(vms: [])

        init(vms: [String]) {
            self.vms = vms
            let hash = SHA256.hash(data: Array(vms.joined(separator: "\n").utf8))
            digest = "\(vms.count)-" + hash.prefix(8).map { String(format: "%02x", $0) }.joined()
        }
    }

    /// Rung when a heartbeat brings evidence a round should act on now (a reading of a lapsed node's record that has
    /// stayed unchanged for a lease): the failover loop checks it between its sleeps' slices, without entering this
    /// actor.
    nonisolated let bell = Mutex(false)

    init(settings: HASettings) {
        self.settings = settings
        manager = HAManager(settings: settings, startedAt: MonotonicTime(milliseconds: 0))
    }

    /// Whether the node's newest storage heartbeat record lists the VM stopped at `epoch`.
    func recordLists(_ node: NodeName, _ vm: VMID, stoppedAt epoch: Epoch) -> Bool {
        manager.recordLists(node, vm, stoppedAt: epoch)
    }

    /// A coordinator that has just become leader knows no lease: it starts afresh and waits one full lease.
    func restartStartupWait() {
        manager = HAManager(settings: settings, startedAt: now())
        heartbeatWritten = [:]
        plannedAtCommit = nil
        isolationStopsAt = nil
    }

    /// This process's monotonic clock.
    nonisolated func now() -> MonotonicTime {
        let elapsed = ContinuousClock.now - origin
        return MonotonicTime(milliseconds: elapsed.wholeMilliseconds)
    }

    func heartbeat(
        from node: NodeName,
        state: NodeState?,
        storage: (writes: Bool, readings: [StorageReading])? = nil
    ) -> (admission: Admission, actions: [HAAction]) {
        if let storage, !storage.readings.isEmpty {
            let now = now()
            manager.storageRead(storage.readings, at: now)
            let evidence = storage.readings.contains { reading in
                reading.unchangedFor > settings.leaseTTL
                    && (manager.leaseExpiresIn(reading.node, at: now).map { $0 < .zero } ?? false)
            }
            if evidence { bell.withLock { $0 = true } }
            for reading in storage.readings {
                let stopped = Set((reading.record?.vms ?? []).filter { !$0.running }.map { "\($0.vm)@\($0.epoch)" })
                if stoppedListed[reading.node, default: []] != stopped, !stopped.isEmpty {
                    plannedAtCommit = nil
                }
                stoppedListed[reading.node] = stopped
            }
        }
        return manager.heartbeat(from: node, state: state, writesStorage: storage?.writes ?? false, at: now())
    }

    /// Everything a heartbeat needs from the manager, in one call: a heartbeat enters this actor once, so it waits
    /// behind the actor's other work once at most (issue 27: five calls each waited their turn during a failover).
    struct HeartbeatTurn: Sendable {
        var admission: Admission
        var actions: [HAAction]
        /// Whether the heartbeat time should be written now (`shouldWriteHeartbeat`).
        var writeHeartbeat: Bool
        var sharedVolumes: [String]?
        var readPeers: [String]?
        var isolationStops: IsolationStopList?
    }

    func heartbeatTurn(
        from node: NodeName,
        state: NodeState?,
        storage: (writes: Bool, readings: [StorageReading])?,
        isolationStopDigest: String?
    ) -> HeartbeatTurn {
        let write = shouldWriteHeartbeat(of: node)
        let (admission, actions) = heartbeat(from: node, state: state, storage: storage)
        return HeartbeatTurn(
            admission: admission,
            actions: actions,
            writeHeartbeat: write,
            sharedVolumes: sharedVolumes(of: node),
            readPeers: readPeers(of: node),
            isolationStops: isolationStops(of: node, agentHas: isolationStopDigest)
        )
    }

    /// The volumes `node` shares with another node, as of the last round.
    func sharedVolumes(of node: NodeName) -> [String]? { shared[node] }

    /// Whether a round has told this actor which volumes are shared yet.
    var hasObserved: Bool { observed }

    /// The peers whose storage heartbeat `node` reads, as of the last round (`nil` before the first).
    func readPeers(of node: NodeName) -> [String]? { observed ? readPeers[node] ?? [] : nil }

    /// Whether the `stop` VMs should be read again (the store changed since they were).
    func wantsIsolationStops(at commits: Int) -> Bool { isolationStopsAt != commits }

    func setIsolationStops(_ stops: [NodeName: [VMID]], at commits: Int) {
        isolationStops = stops.mapValues { IsolationStopList(vms: $0.map(\.rawValue)) }
        isolationStopsAt = commits
    }

    /// `node`'s `stop` VMs when the agent's copy (`digest`) differs; `nil` when it is current or not known yet.
    func isolationStops(of node: NodeName, agentHas digest: String?) -> IsolationStopList? {
        guard isolationStopsAt != nil else { return nil }
        let list = isolationStops[node] ?? .empty
        return list.digest == digest ? nil : list
    }

    /// Whether the heartbeat time should be written now (the first one, then every 30 s).
    func shouldWriteHeartbeat(of node: NodeName) -> Bool {
        let now = now()
        if let written = heartbeatWritten[node], now.since(written) < .seconds(30) { return false }
        heartbeatWritten[node] = now
        return true
    }

    func leaseExpiresIn(_ node: NodeName) -> Duration? { manager.leaseExpiresIn(node, at: now()) }

    func pastStartupWait() -> Bool { manager.pastStartupWait(at: now()) }

    /// How long the failover loop may sleep: `longest`, or less when a lease ends sooner.
    func nextRoundIn(atMost longest: Duration) -> Duration {
        let now = now()
        guard let deadline = manager.nextLeaseDeadline(after: now) else { return longest }
        return min(longest, deadline.since(now))
    }

    /// Sleeps `duration`, or less when `bell` rings meanwhile (checked every 20 ms; the ring is consumed).
    nonisolated func sleep(for duration: Duration) async {
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end, !Task.isCancelled {
            if bell.withLock({ rung in
                defer { rung = false }; return rung
            }) {
                return
            }
            try? await Task.sleep(for: min(.milliseconds(20), end - ContinuousClock.now))
        }
    }

    /// Whether the next round plans failovers again (the store changed since the last plan): then the caller reads
    /// the fenced nodes' VMs for it, outside this actor.
    func wantsPlan(at commits: Int) -> Bool { plannedAtCommit != commits }

    /// The quick part of a round, in the actor: nodes declared down and fencing started, and what to plan (`owned`:
    /// the fenced nodes' VMs, read when `wantsPlan` said so; `nil` leaves the plan for a later round).
    func decide(
        view: ClusterView,
        memory: FailoverMemory,
        commits: Int,
        owned: [NodeName: [VM]]?
    ) -> (actions: [HAAction], request: HAManager.PlanRequest?) {
        let replan = plannedAtCommit != commits && owned != nil
        if replan { plannedAtCommit = commits }
        let vms = owned ?? [:]
        return manager.decide(
            at: now(),
            view: view,
            memory: memory,
            vmsOwnedBy: replan ? { vms[$0] ?? [] } : { _ in [] }
        )
    }

    /// Nodes whose lease has less than half left (or none, once past the start-up wait): every peer reads them.
    ///
    /// The round computes its `StorageObservation` from them outside this actor.
    func lapsing(among nodes: [NodeName]) -> Set<NodeName> {
        let now = now()
        let pastStartup = manager.pastStartupWait(at: now)
        return Set(
            nodes.filter { node in
                guard let left = manager.leaseExpiresIn(node, at: now) else { return pastStartup }
                return left < settings.leaseTTL / 2
            }
        )
    }

    /// Every round, from its first (before the start-up wait is over): which volumes each node shares (where it writes
    /// its storage heartbeat) and whose records it reads, told to agents with heartbeat answers.
    func install(_ observation: StorageObservation) {
        shared = observation.shared
        readPeers = observation.readPeers
        observed = true
    }

    /// The plan's moves and held VMs, once computed outside the actor; a plan overtaken by events is dropped and the
    /// next round plans again.
    func record(_ plan: FailoverPlan, for request: HAManager.PlanRequest) -> [HAAction] {
        guard let actions = manager.record(plan, for: request) else {
            plannedAtCommit = nil
            return []
        }
        return actions
    }

    /// Forces the next tick to plan again (a failover ended without changing the database).
    func replan() { plannedAtCommit = nil }

    func fenceFinished(_ node: NodeName, succeeded: Bool, state: NodeState?) -> [HAAction] {
        plannedAtCommit = nil
        return manager.fenceFinished(node, succeeded: succeeded, state: state, at: now())
    }

    /// Whether a planned move waiting for a slot is still the manager's (a coordinator that lost and won leadership
    /// again starts a new manager, whose plans are its own).
    func isWanted(_ move: FailoverPlan.Move) -> Bool { manager.inFlight[move.vm] == move }

    /// The VMs whose failover is planned and not finished: a round need not read them in full.
    func moving() -> Set<VMID> { Set(manager.inFlight.keys) }

    func failoverFinished(_ vm: VMID, outcome: FailoverOutcome) -> [HAAction] {
        plannedAtCommit = nil
        return manager.failoverFinished(vm, outcome: outcome)
    }

    func confirmFenced(_ node: NodeName, state: NodeState) throws(HARefusal) -> [HAAction] {
        try manager.confirmFenced(node, state: state, at: now())
    }

    func forget(_ node: NodeName) {
        manager.forget(node)
        heartbeatWritten[node] = nil
    }

    var failoversUnderWay: Int { manager.inFlight.count }
}
