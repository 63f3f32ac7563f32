import ChainModel

/// The coordinator settings the decision engine depends on (SPEC §2 defaults).
public struct ClusterSettings: Hashable, Sendable {
    /// A volume's probe counts as verified for `2 × probeInterval`.
    public var probeInterval: Duration
    /// An owner's inventory older than this makes a migration refuse with `inventory-stale`.
    public var inventoryMaxAge: Duration
    /// A chain deeper than this is audited `checkpoint-limit` (SPEC §5 `maxChainDepth`).
    public var maxChainDepth: Int
    /// A volume with less free space than this percentage of its size is audited `volume-space-low`, and a checkpoint
    /// that would leave less is refused (SPEC §5 `minFreeSpace`).
    public var minFreeSpacePercent: Double

    public init(
        probeInterval: Duration = .seconds(300),
        inventoryMaxAge: Duration = .seconds(300),
        maxChainDepth: Int = 32,
        minFreeSpacePercent: Double = 5
    ) {
        self.minFreeSpacePercent = minFreeSpacePercent
        self.probeInterval = probeInterval
        self.inventoryMaxAge = inventoryMaxAge
        self.maxChainDepth = maxChainDepth
    }

    /// Whether `free` bytes of a `total`-byte volume are below the floor; false when the size is unknown.
    public func belowFloor(free: Int64, total: Int64?) -> Bool {
        guard let total, total > 0 else { return false }
        return Double(free) < Double(total) * minFreeSpacePercent / 100
    }

    /// Hyper-V's limit of checkpoints per VM: at it, the next checkpoint fails.
    public static let hyperVCheckpointLimit = 50
}
