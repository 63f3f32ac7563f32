/// A VM's run state as its hypervisor reports it (SPEC §4).
public enum PowerState: String, Sendable, Codable, CaseIterable {
    case running = "Running"
    case off = "Off"
    case saved = "Saved"
    case paused = "Paused"

    /// Whether the VM holds memory on its node (Running or Paused), which a target must have free.
    public var holdsMemory: Bool { self == .running || self == .paused }
}
