import DiskFormats

#if canImport(Glibc)
import Glibc
#endif

/// The real file system, for the chain resolver.
public struct LocalFileSystem: ChainFileSystem {
    public init() {}

    public func open(_ path: String) throws(DiskFormatError) -> OpenedFile? {
        guard let source = try FileByteSource(path: path) else { return nil }
        return OpenedFile(
            source: source,
            canonicalPath: Self.canonicalPath(path) ?? path,
            identity: source.identity,
            modifiedNanoseconds: source.modifiedNanoseconds
        )
    }

    /// The path with every symlink and `..` resolved, or `nil` if it does not exist.
    public static func canonicalPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The absolute form of `path` (relative to the working directory), without resolving links.
    public static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return LocalPath.normalize(path) }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return LocalPath.normalize(path) }
        let directory = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return LocalPath.join(directory, path)
    }
}
