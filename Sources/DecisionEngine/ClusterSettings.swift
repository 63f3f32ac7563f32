import ChainModel

/// The coordinator settings the decision engine depends on (SPEC §2 defaults).
public struct ClusterSettings: Hashable, Sendable {
    /// A volume's probe counts as verified for `2 × probeInterval`.
    public var probeInterval: Duration
    /// An owner's inventory older than this makes a migration refuse with `inventory-stale`.
    public var inventoryMaxAge: Duration

    public init(probeInterval: Duration = .seconds(300), inventoryMaxAge: Duration = .seconds(300)) {
        self.probeInterval = probeInterval
        self.inventoryMaxAge = inventoryMaxAge
    }
}
