/// A disk file as a length and the non-zero extents in it: everything between extents reads as
/// zeros, so the shell writes it as a sparse file and the fuzzer reads it from memory.
public struct SparseImage: Sendable, Hashable {
    public var length: UInt64
    public var extents: [(offset: UInt64, bytes: [UInt8])] {
        get { storage.map { ($0.offset, $0.bytes) } }
        set { storage = newValue.map { Extent(offset: $0.offset, bytes: $0.bytes) } }
    }

    private struct Extent: Sendable, Hashable {
        var offset: UInt64
        var bytes: [UInt8]
    }

    private var storage: [Extent]

    public init(length: UInt64, extents: [(offset: UInt64, bytes: [UInt8])] = []) {
        self.length = length
        self.storage = extents.map { Extent(offset: $0.offset, bytes: $0.bytes) }
    }

    public mutating func write(_ bytes: [UInt8], at offset: UInt64) {
        storage.append(Extent(offset: offset, bytes: bytes))
        length = max(length, offset + UInt64(bytes.count))
    }

    /// The whole file in memory, for tests and the fuzzer (a few MiB for the fixtures we write).
    public func flattened() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(length))
        for extent in storage {
            bytes.replaceSubrange(Int(extent.offset)..<(Int(extent.offset) + extent.bytes.count), with: extent.bytes)
        }
        return bytes
    }

    /// A byte source over the image without materialising it.
    public var source: InMemoryByteSource { InMemoryByteSource(flattened()) }
}
