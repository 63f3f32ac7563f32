import ChainModel

/// An agent's own view of its lease (SPEC §6), on its monotonic clock: when to feed the watchdog, when to fence
/// itself, and when it may act as an owner again.
///
/// The lease counts from the moment the agent *sent* the heartbeat the coordinator then answered, which is never later
/// than the moment the coordinator received it; so the agent's lease always runs out before the coordinator's view of
/// it, and the agent fences itself before the coordinator may declare the node down.
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

    /// Whether the watchdog may be fed now: only while the lease has more than the watchdog's timeout left, so that
    /// an agent that dies or hangs is fenced by its watchdog no later than its lease runs out.
    public func mayFeedWatchdog(at now: MonotonicTime) -> Bool {
        guard let expiresAt else { return false }
        return expiresAt.since(now) > watchdogTimeout
    }

    /// Whether the agent must fence itself now: it holds a lease that runs out within `fenceLead`.
    public func mustFence(at now: MonotonicTime) -> Bool {
        guard let expiresAt else { return false }
        return expiresAt.since(now) <= fenceLead
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
