import ChainModel

/// The coordinator settings the decision engine depends on (SPEC §2 defaults).
public struct ClusterSettings: Hashable, Sendable {
    /// A volume's probe counts as verified for `2 × probeInterval`.
    public var probeInterval: Duration
    /// An owner's inventory older than this makes a migration refuse with `inventory-stale`.
    public var inventoryMaxAge: Duration
    /// A chain deeper than this is audited `checkpoint-limit` (SPEC §5 `maxChainDepth`).
    public var maxChainDepth: Int

    public init(
        probeInterval: Duration = .seconds(300),
        inventoryMaxAge: Duration = .seconds(300),
        maxChainDepth: Int = 32
    ) {
        self.probeInterval = probeInterval
        self.inventoryMaxAge = inventoryMaxAge
        self.maxChainDepth = maxChainDepth
    }

    /// Hyper-V's limit of checkpoints per VM: at it, the next checkpoint fails.
    public static let hyperVCheckpointLimit = 50
}
