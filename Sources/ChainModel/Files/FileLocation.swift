/// Where a file lives, independent of any one node's mount paths.
public enum FileLocation: Hashable, Sendable, Comparable {
    /// Under a volume marker: the volume and the path relative to its root (no leading slash).
    case volume(VolumeID, relativePath: String)
    /// Under no marker: the absolute path on the node that reported it, which alone can reach it.
    case nodeLocal(NodeName, absolutePath: String)

    /// The volume holding the file, if any.
    public var volume: VolumeID? {
        if case .volume(let id, _) = self { return id }
        return nil
    }

    /// A stable text key, used to store and compare locations.
    public var key: String {
        switch self {
        case .volume(let id, let relativePath): "volume:\(id.rawValue):\(relativePath)"
        case .nodeLocal(let node, let absolutePath): "node:\(node.rawValue):\(absolutePath)"
        }
    }

    public static func < (lhs: FileLocation, rhs: FileLocation) -> Bool { lhs.key < rhs.key }
}
