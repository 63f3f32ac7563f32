/// What the coordinator knows of a VM's hypervisor metadata (issue 23: libvirt's domain and snapshot XML, which a
/// failover needs when the owner is dead): the digest the owner last reported, and the body it holds.
public struct HypervisorMetadataState: Hashable, Sendable {
    /// The digest of the metadata as the owner last read it.
    public var reportedDigest: String
    /// The digest of the body the coordinator holds, if any.
    public var heldDigest: String?
    /// The files the domain wrote to when the held body was read (paths as the owner saw them).
    public var heldLeaves: [String]

    public init(reportedDigest: String, heldDigest: String? = nil, heldLeaves: [String] = []) {
        self.reportedDigest = reportedDigest
        self.heldDigest = heldDigest
        self.heldLeaves = heldLeaves
    }

    /// Whether the body held is the one last reported.
    public var isCurrent: Bool { heldDigest == reportedDigest }
}
