import ChainModel

/// An agent's own view of its lease (SPEC §6), on its monotonic clock: when to feed the watchdog, when to fence
/// itself, and when it may act as an owner again.
///
/// The lease counts from the moment the agent *sent* the heartbeat the coordinator then answered, which is never later
/// than the moment the coordinator received it; so the agent's lease always runs out before the coordinator's view of
/// it, and the agent fences itself before the coordinator may declare the node down.
///
/// A node that shares a volume with another node also writes a storage heartbeat (SPEC §6, "Isolation"): while those
/// writes succeed it counts them like renewals of a second lease, so that losing only the coordinator makes it
/// *isolated* (its VMs keep running, its watchdog is fed) rather than fenced. It fences itself only when both have been
/// unrenewed for 4/5 of the lease, and readers declare it down only once its record has been unchanged for a whole
/// lease, so it has always fenced itself first.
public struct AgentLease: Hashable, Sendable {
    /// What the agent is allowed to do.
    public enum Standing: String, Hashable, Sendable {
        /// Started, not yet told by the coordinator which VMs are its own: acts on nothing.
        case awaitingAdmission = "awaiting-admission"
        /// Holding a lease: acts as the owner of its VMs.
        case admitted
        /// Fenced itself (or was told it is down): acts on nothing until the coordinator readmits it.
        case fenced
    }

    public var leaseTTL: Duration
    /// The watchdog fires this long after its last feed (default: half the lease).
    public var watchdogTimeout: Duration
    /// The agent fences itself this long before its lease runs out, so the fence hook has time to finish.
    public var fenceLead: Duration
    public private(set) var standing: Standing = .awaitingAdmission
    /// When the heartbeat that last renewed the lease was sent.
    public private(set) var renewedAt: MonotonicTime?
    /// When the agent last fenced itself; answers to heartbeats sent before it cannot readmit it.
    public private(set) var fencedAt: MonotonicTime?
    /// When the last round of storage heartbeat writes that reached every shared volume in time was issued; `nil`
    /// while the node writes none (it shares no volume with another node): then the lease rule applies alone.
    public private(set) var storageWrittenAt: MonotonicTime?

    public init(leaseTTL: Duration, watchdogTimeout: Duration? = nil, fenceLead: Duration? = nil) {
        self.leaseTTL = leaseTTL
        self.watchdogTimeout = watchdogTimeout ?? leaseTTL / 2
        self.fenceLead = fenceLead ?? leaseTTL / 5
    }

    /// When the lease runs out, or `nil` when the agent holds none.
    public var expiresAt: MonotonicTime? {
        guard standing == .admitted, let renewedAt else { return nil }
        return renewedAt + leaseTTL
    }

    /// The coordinator answered a heartbeat sent at `sentAt` and counts the node as a member: the lease is renewed
    /// (readmission is the same answer, with the list of VMs still owned).
    public mutating func renewed(sentAt: MonotonicTime) {
        if let renewedAt, sentAt < renewedAt { return }
        if let fencedAt, sentAt < fencedAt { return }
        renewedAt = sentAt
        standing = .admitted
    }

    /// When the storage heartbeat, counted like a lease from its last complete write, runs out; `nil` when the agent
    /// holds no lease or writes no storage heartbeat.
    public var storageExpiresAt: MonotonicTime? {
        guard standing == .admitted, let storageWrittenAt else { return nil }
        return storageWrittenAt + leaseTTL
    }

    /// A round of storage heartbeat writes issued at `issuedAt` reached every shared volume within its period.
    public mutating func storageWritten(issuedAt: MonotonicTime) {
        if let storageWrittenAt, issuedAt < storageWrittenAt { return }
        storageWrittenAt = issuedAt
    }

    /// The node shares no volume with another node any more: the lease rule applies alone.
    public mutating func storageNotShared() {
        storageWrittenAt = nil
    }

    /// What the agent writes in its record, and how it behaves: `running` while its lease has more than `fenceLead`
    /// left, `isolated` while only its storage heartbeat has, `fenced` once neither has.
    public func condition(at now: MonotonicTime) -> StorageHeartbeat.Condition {
        guard standing == .admitted else { return standing == .fenced ? .fenced : .running }
        if let expiresAt, expiresAt.since(now) > fenceLead { return .running }
        if let storageExpiresAt, storageExpiresAt.since(now) > fenceLead { return .isolated }
        return .fenced
    }

    /// Since when the agent has been isolated (its lease within `fenceLead` of running out), or `nil` when it is not.
    public func isolatedSince(at now: MonotonicTime) -> MonotonicTime? {
        guard condition(at: now) == .isolated, let expiresAt else { return nil }
        return expiresAt - fenceLead
    }

    /// Whether the watchdog may be fed now: only while the lease (or the storage heartbeat) has more than the
    /// watchdog's timeout left, so that an agent that dies or hangs is fenced by its watchdog no later than both run
    /// out, and an isolated node is not fenced by its own watchdog.
    public func mayFeedWatchdog(at now: MonotonicTime) -> Bool {
        if let expiresAt, expiresAt.since(now) > watchdogTimeout { return true }
        if let storageExpiresAt, storageExpiresAt.since(now) > watchdogTimeout { return true }
        return false
    }

    /// Whether the agent must fence itself now: it holds a lease that runs out within `fenceLead`, and its storage
    /// heartbeat (if it writes one) does too.
    public func mustFence(at now: MonotonicTime) -> Bool {
        guard let expiresAt, expiresAt.since(now) <= fenceLead else { return false }
        guard let storageExpiresAt else { return true }
        return storageExpiresAt.since(now) <= fenceLead
    }

    /// Whether an isolated agent stops a VM whose isolation response is `stop` now (SPEC §6): it has been isolated for
    /// `isolationTimeout`, and peers' records show that other nodes still run, so it is this node that is cut off.
    public func stopsIsolatedVMs(
        at now: MonotonicTime,
        isolationTimeout: Duration,
        peersRunning: Bool
    ) -> Bool {
        guard peersRunning, let since = isolatedSince(at: now) else { return false }
        return now.since(since) >= isolationTimeout
    }

    /// How long to wait before the next heartbeat: the configured interval, but at most half a second once less than
    /// half the lease is left, so that a short network outage is bridged by the first heartbeat after it ends rather
    /// than by the next regular one.
    public func nextHeartbeat(after interval: Duration, at now: MonotonicTime) -> Duration {
        guard let expiresAt, expiresAt.since(now) < leaseTTL / 2 else { return interval }
        return min(interval, .milliseconds(500))
    }

    /// The fence hook ran (or the coordinator said the node is down): act on nothing until readmitted.
    public mutating func fenced(at now: MonotonicTime) {
        standing = .fenced
        fencedAt = now
    }
}
