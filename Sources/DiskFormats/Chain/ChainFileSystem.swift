import ChainModel

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
    /// The file's modification time in nanoseconds since the Unix epoch, when the file system knows it.
    public var modifiedNanoseconds: Int64?

    public init(
        source: any ByteSource,
        canonicalPath: String,
        identity: FileIdentity,
        modifiedNanoseconds: Int64? = nil
    ) {
        self.source = source
        self.canonicalPath = canonicalPath
        self.identity = identity
        self.modifiedNanoseconds = modifiedNanoseconds
    }
}

/// The resolver's only door to the file system; the agent passes the real one, tests may pass
/// files in memory.
public protocol ChainFileSystem {
    /// Opens `path` for reading, or returns `nil` if nothing exists there.
    func open(_ path: String) throws(DiskFormatError) -> OpenedFile?

    /// Reads the header of an opened file, detecting its format when `format` is `nil`.
    ///
    /// The default parses the bytes; the agent's implementation answers from a cache while the file's identity, size
    /// and modification time are unchanged.
    func readInfo(of file: OpenedFile, path: String, as format: DiskFormat?) throws(DiskFormatError) -> DiskImageInfo
}

extension ChainFileSystem {
    public func readInfo(
        of file: OpenedFile,
        path: String,
        as format: DiskFormat?
    ) throws(DiskFormatError) -> DiskImageInfo {
        if let format { return try DiskImageReader.read(file.source, as: format) }
        return try DiskImageReader.read(file.source, name: path)
    }
}
