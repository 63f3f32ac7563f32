/// A node's name as configured in its agent (`node:`), unique in the cluster.
public struct NodeName: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (lhs: NodeName, rhs: NodeName) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A VM's stable identifier (Hyper-V's VM GUID, libvirt's domain UUID).
public struct VMID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (lhs: VMID, rhs: VMID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A volume's identifier, the `id` of its `.chainkeeper-volume` marker.
public struct VolumeID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (lhs: VolumeID, rhs: VolumeID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A checkpoint's identifier, unique within its VM.
public struct CheckpointID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (lhs: CheckpointID, rhs: CheckpointID) -> Bool { lhs.rawValue < rhs.rawValue }
}
