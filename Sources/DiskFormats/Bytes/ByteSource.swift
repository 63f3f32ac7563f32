/// Random-access reads from a disk file.
///
/// Parsers read only the few KiB they need through it, never the whole file; the I/O shell implements it with `pread`,
/// tests with bytes in memory.
public protocol ByteSource {
    /// The file's length in bytes.
    var size: UInt64 { get }

    /// Exactly `count` bytes starting at `offset`; the caller has checked they lie inside `size`.
    func read(at offset: UInt64, count: Int) throws(DiskFormatError) -> [UInt8]
}

/// A whole file held in memory: for tests, the fuzzer and the writer's own checks.
public struct InMemoryByteSource: ByteSource, Sendable {
    public var bytes: [UInt8]
    /// The logical length; may exceed `bytes.count`, the rest reading as zeros (a sparse tail).
    public var size: UInt64

    public init(_ bytes: [UInt8], size: UInt64? = nil) {
        self.bytes = bytes
        self.size = size ?? UInt64(bytes.count)
    }

    public func read(at offset: UInt64, count: Int) throws(DiskFormatError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw DiskFormatError(
                .io,
                structure: nil,
                offset: offset,
                "read of \(count) bytes past the end of the data"
            )
        }
        let stored = UInt64(bytes.count)
        guard offset < stored else { return [UInt8](repeating: 0, count: count) }
        let start = Int(offset)
        let available = Int(min(UInt64(count), stored - offset))
        var result = Array(bytes[start..<(start + available)])
        if available < count { result += [UInt8](repeating: 0, count: count - available) }
        return result
    }
}

extension ByteSource {
    /// Reads a structure after checking that it lies inside the file, so that a truncated file gives
    /// a `malformed` error naming the structure rather than an I/O failure.
    func structure(_ name: String, at offset: UInt64, count: Int) throws(DiskFormatError) -> [UInt8] {
        let (end, overflow) = offset.addingReportingOverflow(UInt64(count))
        guard !overflow, end <= size else {
            throw .malformed(
                name,
                at: offset,
                "needs \(count) bytes but the file ends at byte \(size) (truncated or a bad offset)"
            )
        }
        return try read(at: offset, count: count)
    }
}
