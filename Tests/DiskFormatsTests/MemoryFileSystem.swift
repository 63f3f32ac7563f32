import DiskFormats

/// Files in memory for resolver tests, with symlinks: `links[path] = target` makes `path` open the
/// target, and report the target as its canonical path.
final class MemoryFileSystem: ChainFileSystem {
    var files: [String: [UInt8]] = [:]
    var links: [String: String] = [:]
    private var inodes: [String: UInt64] = [:]
    private(set) var opened: [String] = []

    func add(_ path: String, _ bytes: [UInt8]) { files[path] = bytes }

    func open(_ path: String) throws(DiskFormatError) -> OpenedFile? {
        opened.append(path)
        var canonical = LocalPath.normalize(path)
        var hops = 0
        while let target = links[canonical], hops < 40 {
            canonical = LocalPath.join(LocalPath.directory(of: canonical), target)
            hops += 1
        }
        guard let bytes = files[canonical] else { return nil }
        let inode = inodes[canonical] ?? UInt64(inodes.count + 1)
        inodes[canonical] = inode
        return OpenedFile(
            source: InMemoryByteSource(bytes),
            canonicalPath: canonical,
            identity: FileIdentity(device: 1, inode: inode)
        )
    }
}
