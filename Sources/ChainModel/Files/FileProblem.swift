/// What the reporting agent found wrong with a file when it read it.
public enum FileProblem: String, Sendable, Codable, CaseIterable {
    /// The inventory or a parent locator names it, but it does not exist.
    case missing = "file-missing"
    /// A parent locator resolves to a file of the wrong identity, a chain has a cycle, or the disk
    /// cannot be parsed.
    case chainBroken = "chain-broken"
    /// A VHDX whose log must be replayed before its metadata can be trusted.
    case needsLogReplay = "disk-needs-log-replay"
}
