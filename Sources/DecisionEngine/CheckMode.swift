/// Why a placement is being judged; failover skips the owner's inventory age because the owner is
/// gone and the target's own preflight decides (SPEC §5).
public enum CheckMode: Sendable, Hashable {
    /// An administrator's migration or a drain: the owner is alive.
    case migration
    /// Recovery from a down owner.
    case failover
}
