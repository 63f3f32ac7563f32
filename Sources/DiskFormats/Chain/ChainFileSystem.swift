/// Identifies a file independently of the path used to reach it, for cycle detection.
public struct FileIdentity: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
}

/// A file the resolver opened: its bytes, where it really is, and which file it is.
public struct OpenedFile {
    public var source: any ByteSource
    /// The path with every symlink resolved.
    public var canonicalPath: String
    public var identity: FileIdentity

    public init(source: any ByteSource, canonicalPath: String, identity: FileIdentity) {
        self.source = source
        self.canonicalPath = canonicalPath
        self.identity = identity
    }
}

/// The resolver's only door to the file system; the agent passes the real one, tests may pass
/// files in memory.
public protocol ChainFileSystem {
    /// Opens `path` for reading, or returns `nil` if nothing exists there.
    func open(_ path: String) throws(DiskFormatError) -> OpenedFile?
}
