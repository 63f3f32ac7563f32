/// What the coordinator tells an agent with each heartbeat and report: the settings the agent must follow.
public struct CoordinatorAnnouncement: Codable, Sendable, Hashable {
    /// The agent lease (SPEC §6), in milliseconds.
    public var leaseTTLMilliseconds: Int64
    /// How often each volume's probe nonce must be renewed (SPEC §3), in milliseconds.
    public var probeIntervalMilliseconds: Int64

    public init(leaseTTLMilliseconds: Int64, probeIntervalMilliseconds: Int64) {
        self.leaseTTLMilliseconds = leaseTTLMilliseconds
        self.probeIntervalMilliseconds = probeIntervalMilliseconds
    }
}

/// An agent's heartbeat.
public struct Heartbeat: Codable, Sendable, Hashable {
    /// Reports still waiting in the agent's outbox (0 when it is up to date).
    public var outbox: Int

    public init(outbox: Int) { self.outbox = outbox }
}

/// The answer to a report: what it changed, and the current settings.
public struct ReportAnswer: Codable, Sendable, Hashable {
    public var registered: Int
    public var updated: Int
    /// Known VMs the report describes exactly as stored.
    public var unchanged: Int
    public var listedOnly: Int
    public var errors: Int
    public var settings: CoordinatorAnnouncement

    public init(
        registered: Int,
        updated: Int,
        unchanged: Int,
        listedOnly: Int,
        errors: Int,
        settings: CoordinatorAnnouncement
    ) {
        self.registered = registered
        self.updated = updated
        self.unchanged = unchanged
        self.listedOnly = listedOnly
        self.errors = errors
        self.settings = settings
    }
}
