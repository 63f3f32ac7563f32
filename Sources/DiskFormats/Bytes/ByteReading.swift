/// Integer reads from a window of a byte array, at positions the caller has bounds-checked once for the whole structure.
///
/// Each read still checks, so a slip in a parser yields a typed error, never a trap. A cursor over part of an array
/// (`window`) shares the array's storage: parsers narrow to a structure without copying it.
struct ByteCursor {
    let bytes: [UInt8]
    /// Where the window starts in `bytes`, and how long it is.
    let start: Int
    let count: Int
    /// The structure's name and file offset, for errors.
    let structure: String
    let base: UInt64

    init(_ bytes: [UInt8], structure: String, base: UInt64) {
        self.bytes = bytes
        self.start = 0
        self.count = bytes.count
        self.structure = structure
        self.base = base
    }

    /// The `count` bytes at `offset` of this window, as a cursor of their own whose file offset is `base + offset`.
    func window(_ offset: Int, _ count: Int, structure: String) throws(DiskFormatError) -> ByteCursor {
        try check(offset, count)
        return ByteCursor(
            bytes,
            start: start + offset,
            count: count,
            structure: structure,
            base: base &+ UInt64(offset)
        )
    }

    private init(_ bytes: [UInt8], start: Int, count: Int, structure: String, base: UInt64) {
        self.bytes = bytes
        self.start = start
        self.count = count
        self.structure = structure
        self.base = base
    }

    private func check(_ offset: Int, _ length: Int) throws(DiskFormatError) {
        guard offset >= 0, length >= 0, offset <= count, length <= count - offset else {
            throw .malformed(structure, at: base &+ UInt64(max(offset, 0)), "field lies outside the structure")
        }
    }

    private func load<T: FixedWidthInteger>(_ offset: Int, as type: T.Type) throws(DiskFormatError) -> T {
        try check(offset, MemoryLayout<T>.size)
        return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: start + offset, as: T.self) }
    }

    func le16(_ offset: Int) throws(DiskFormatError) -> UInt16 {
        UInt16(littleEndian: try load(offset, as: UInt16.self))
    }
    func le32(_ offset: Int) throws(DiskFormatError) -> UInt32 {
        UInt32(littleEndian: try load(offset, as: UInt32.self))
    }
    func le64(_ offset: Int) throws(DiskFormatError) -> UInt64 {
        UInt64(littleEndian: try load(offset, as: UInt64.self))
    }
    func be16(_ offset: Int) throws(DiskFormatError) -> UInt16 { UInt16(bigEndian: try load(offset, as: UInt16.self)) }
    func be32(_ offset: Int) throws(DiskFormatError) -> UInt32 { UInt32(bigEndian: try load(offset, as: UInt32.self)) }
    func be64(_ offset: Int) throws(DiskFormatError) -> UInt64 { UInt64(bigEndian: try load(offset, as: UInt64.self)) }

    func slice(_ offset: Int, _ length: Int) throws(DiskFormatError) -> ArraySlice<UInt8> {
        try check(offset, length)
        return bytes[(start + offset)..<(start + offset + length)]
    }

    func guid(_ offset: Int) throws(DiskFormatError) -> GUID {
        try check(offset, 16)
        return GUID(first: try le64(offset), second: try le64(offset + 8))
    }

    func matches(_ offset: Int, _ signature: StaticString) -> Bool {
        let length = signature.utf8CodeUnitCount
        guard offset >= 0, offset <= count, length <= count - offset else { return false }
        return signature.withUTF8Buffer { expected in
            for index in 0..<length where bytes[start + offset + index] != expected[index] { return false }
            return true
        }
    }
}

/// Little- and big-endian encoders for the writer.
extension Array where Element == UInt8 {
    mutating func putLE16(_ value: UInt16, at offset: Int) {
        for index in 0..<2 { self[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    mutating func putLE32(_ value: UInt32, at offset: Int) {
        for index in 0..<4 { self[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    mutating func putLE64(_ value: UInt64, at offset: Int) {
        for index in 0..<8 { self[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    mutating func putBE16(_ value: UInt16, at offset: Int) {
        for index in 0..<2 { self[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * (1 - index))) }
    }

    mutating func putBE32(_ value: UInt32, at offset: Int) {
        for index in 0..<4 { self[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * (3 - index))) }
    }

    mutating func putBE64(_ value: UInt64, at offset: Int) {
        for index in 0..<8 { self[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * (7 - index))) }
    }

    mutating func putBytes(_ value: some Collection<UInt8>, at offset: Int) {
        replaceSubrange(offset..<(offset + value.count), with: value)
    }

    mutating func putASCII(_ value: String, at offset: Int) { putBytes(Array(value.utf8), at: offset) }
}
