import DiskFormats

#if canImport(Glibc)
import Glibc
#endif

/// A disk file opened read-only, read with `pread`: parsers touch only the bytes they ask for.
public final class FileByteSource: ByteSource {
    public let path: String
    public let size: UInt64
    public let identity: FileIdentity
    /// Modification time, nanoseconds since the Unix epoch.
    public let modifiedNanoseconds: Int64
    private let descriptor: Int32

    /// Opens `path`; `nil` if nothing exists there, an `io` error if it exists but cannot be read.
    public init?(path: String) throws(DiskFormatError) {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return nil }
            throw DiskFormatError(
                .io,
                structure: nil,
                offset: nil,
                "cannot open \(path): \(String(cString: strerror(code)))"
            )
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw DiskFormatError(
                .io,
                structure: nil,
                offset: nil,
                "cannot stat \(path): \(String(cString: strerror(code)))"
            )
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            Glibc.close(descriptor)
            throw DiskFormatError(.io, structure: nil, offset: nil, "\(path) is not a regular file")
        }
        self.path = path
        self.descriptor = descriptor
        self.size = UInt64(status.st_size)
        self.identity = FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        self.modifiedNanoseconds = Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
    }

    deinit { Glibc.close(descriptor) }

    public func read(at offset: UInt64, count: Int) throws(DiskFormatError) -> [UInt8] {
        guard count > 0 else { return [] }
        var failure: DiskFormatError?
        let buffer = [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
            var done = 0
            while done < count, let base = storage.baseAddress {
                let result = pread(descriptor, base + done, count - done, off_t(offset) + off_t(done))
                if result < 0 && errno == EINTR { continue }
                if result < 0 {
                    failure = DiskFormatError(
                        .io,
                        structure: nil,
                        offset: offset,
                        "cannot read \(path): \(String(cString: strerror(errno)))"
                    )
                    break
                }
                if result == 0 {
                    failure = DiskFormatError(
                        .io,
                        structure: nil,
                        offset: offset,
                        "\(path) ended early (it changed while being read)"
                    )
                    break
                }
                done += result
            }
            // Whatever was not read is zeroed so the array is always fully initialised.
            if done < count, let base = storage.baseAddress {
                (base + done).initialize(repeating: 0, count: count - done)
            }
            initialized = count
        }
        if let failure { throw failure }
        return buffer
    }
}
