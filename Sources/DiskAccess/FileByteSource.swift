import DiskFormats

#if canImport(Glibc)
import Glibc
#endif

/// A disk file opened read-only, read with `pread`: parsers touch only the bytes they ask for.
///
/// Small reads fetch the whole 4 KiB page around them and keep the last few pages, because parsers read a format's
/// small structures one by one and these usually share a page (a VHD's footer copy, dynamic header and locators; a
/// qcow2 header, its extensions and the backing file name; the signature a format is detected by): one system call
/// instead of several. Reads of a page or more go straight to the file.
public final class FileByteSource: ByteSource {
    public let path: String
    public let size: UInt64
    public let identity: FileIdentity
    /// Modification time, nanoseconds since the Unix epoch.
    public let modifiedNanoseconds: Int64
    private let descriptor: Int32
    /// The `pread` calls made so far (offset, length), when opened with `recordingReads`: what the benchmark replays
    /// to measure the system calls alone.
    public private(set) var fileReads: [(offset: UInt64, count: Int)] = []
    private let recordingReads: Bool
    /// Recently read pages, oldest first.
    private var pages: [(offset: UInt64, bytes: [UInt8])] = []
    private static let pageSize: UInt64 = 4096
    private static let keptPages = 4

    /// Opens `path`; `nil` if nothing exists there, an `io` error if it exists but cannot be read.
    public init?(path: String, recordingReads: Bool = false) throws(DiskFormatError) {
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
        self.recordingReads = recordingReads
        self.descriptor = descriptor
        self.size = UInt64(status.st_size)
        self.identity = FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        self.modifiedNanoseconds = Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
    }

    deinit { Glibc.close(descriptor) }

    public func read(at offset: UInt64, count: Int) throws(DiskFormatError) -> [UInt8] {
        guard count > 0 else { return [] }
        guard UInt64(count) < Self.pageSize, offset < size, UInt64(count) <= size - offset else {
            return try readFile(at: offset, count: count)
        }
        let pageStart = offset - offset % Self.pageSize
        let end = offset + UInt64(count)
        let cached = pages.last { $0.offset <= offset && end <= $0.offset + UInt64($0.bytes.count) }
        let page: (offset: UInt64, bytes: [UInt8])
        if let cached {
            page = cached
        } else {
            // The page, or the two pages a read straddles, cut at the end of the file.
            let pageEnd = min(size, ((end + Self.pageSize - 1) / Self.pageSize) * Self.pageSize)
            page = (pageStart, try readFile(at: pageStart, count: Int(pageEnd - pageStart)))
            if pages.count == Self.keptPages { pages.removeFirst() }
            pages.append(page)
        }
        let from = Int(offset - page.offset)
        return Array(page.bytes[from..<(from + count)])
    }

    private func readFile(at offset: UInt64, count: Int) throws(DiskFormatError) -> [UInt8] {
        if recordingReads { fileReads.append((offset, count)) }
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
