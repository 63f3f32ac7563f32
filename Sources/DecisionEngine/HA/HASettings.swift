import ChainModel

/// The coordinator settings the failover manager depends on (SPEC §2, §6).
public struct HASettings: Hashable, Sendable {
    public var leaseTTL: Duration
    /// Added to a lease before the node is declared down, for agents whose clocks run slow (a tenth of the lease).
    public var clockMargin: Duration
    /// Whether the coordinator runs its own `fence` command before failing a node over.
    public var hasFenceCommand: Bool
    /// `failover.enabled`: when off, down nodes are still fenced but their VMs stay where they are.
    public var failoverEnabled: Bool
    /// How long after a failed fence command it is tried again.
    public var fenceRetry: Duration
    /// A node isolated or declared down more than this many times within `quarantineWindow` is quarantined when it
    /// comes back (SPEC §6, `quarantineThreshold`).
    public var quarantineThreshold: Int
    public var quarantineWindow: Duration

    public init(
        leaseTTL: Duration = .seconds(10),
        hasFenceCommand: Bool = false,
        failoverEnabled: Bool = true,
        clockMargin: Duration? = nil,
        fenceRetry: Duration? = nil,
        quarantineThreshold: Int = 3,
        quarantineWindow: Duration = .seconds(3600)
    ) {
        self.leaseTTL = leaseTTL
        self.hasFenceCommand = hasFenceCommand
        self.failoverEnabled = failoverEnabled
        self.clockMargin = clockMargin ?? leaseTTL / 10
        self.fenceRetry = fenceRetry ?? leaseTTL
        self.quarantineThreshold = quarantineThreshold
        self.quarantineWindow = quarantineWindow
    }
}
