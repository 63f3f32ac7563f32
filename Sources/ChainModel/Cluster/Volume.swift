/// A volume, identified by the marker file at its root; the same volume may be mounted at different
/// paths on different nodes.
public struct Volume: Hashable, Sendable, Codable {
    public var id: VolumeID
    public var name: String

    public init(id: VolumeID, name: String) {
        self.id = id
        self.name = name
    }
}

extension VolumeID {
    /// The ids of the "volumes" that stand for a `sharedSources` prefix (SPEC §2: `rbd:pool/`, …): disks that are not
    /// files, which no nonce can probe.
    ///
    /// Each node's config declares them, so a node's own word verifies its mount.
    public static let sharedSourcePrefix = "shared-source:"

    public var isSharedSource: Bool { rawValue.hasPrefix(Self.sharedSourcePrefix) }
}

/// One node's report of one volume: where it is mounted there, and when reachability was last proven.
public struct VolumeMount: Hashable, Sendable, Codable {
    public var volume: VolumeID
    public var node: NodeName
    public var mountPath: String
    public var filesystemType: String?
    /// When this node last passed the nonce probe for this volume (SPEC §3); `nil` if never.
    public var lastProbeAt: Timestamp?
    /// Free space as this node last saw it, in bytes.
    public var freeBytes: Int64?
    public var readOnly: Bool
    /// The filesystem's size as the node measured it; nil when unknown.
    public var totalBytes: Int64?

    public init(
        volume: VolumeID,
        node: NodeName,
        mountPath: String,
        filesystemType: String? = nil,
        lastProbeAt: Timestamp? = nil,
        freeBytes: Int64? = nil,
        readOnly: Bool = false,
        totalBytes: Int64? = nil
    ) {
        self.totalBytes = totalBytes
        self.volume = volume
        self.node = node
        self.mountPath = mountPath
        self.filesystemType = filesystemType
        self.lastProbeAt = lastProbeAt
        self.freeBytes = freeBytes
        self.readOnly = readOnly
    }

    /// Whether the probe is recent enough: newer than `2 × probeInterval` at `now`.
    public func isVerified(at now: Timestamp, probeInterval: Duration) -> Bool {
        guard let lastProbeAt else { return false }
        return now.since(lastProbeAt) <= probeInterval * 2
    }
}
