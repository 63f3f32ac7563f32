/// A fencing token: a number per VM that only grows.
///
/// A migration reserves `epoch + 1` when planned, and agents refuse any command carrying a lower epoch than the highest
/// they have seen.
public struct Epoch: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public init(_ rawValue: Int64) { self.rawValue = rawValue }

    /// The epoch a VM gets when its first owner registers it.
    public static let initial = Epoch(1)

    /// The next epoch, reserved by a migration or failover; `nil` once `ValueBounds.epoch` is reached (an epoch only
    /// grows, so a VM there cannot move again: it is refused, never wrapped).
    public var next: Epoch? { rawValue < ValueBounds.epoch ? Epoch(rawValue + 1) : nil }

    public var description: String { String(rawValue) }
    public static func < (lhs: Epoch, rhs: Epoch) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Who owns a VM, and at which epoch.
///
/// Changes only through a committed migration or failover.
public struct Ownership: Hashable, Sendable, Codable {
    public var owner: NodeName
    public var epoch: Epoch

    public init(owner: NodeName, epoch: Epoch) {
        self.owner = owner
        self.epoch = epoch
    }
}
