/// Integer reads from a byte array at a position the caller has bounds-checked once for the whole structure.
///
/// Each read still checks, so a slip in a parser yields a typed error, never a trap.
struct ByteCursor {
    let bytes: [UInt8]
    /// The structure's name and file offset, for errors.
    let structure: String
    let base: UInt64

    init(_ bytes: [UInt8], structure: String, base: UInt64) {
        self.bytes = bytes
        self.structure = structure
        self.base = base
    }

    private func check(_ offset: Int, _ count: Int) throws(DiskFormatError) {
        guard offset >= 0, count >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw .malformed(structure, at: base &+ UInt64(max(offset, 0)), "field lies outside the structure")
        }
    }

    func le16(_ offset: Int) throws(DiskFormatError) -> UInt16 {
        try check(offset, 2)
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    func le32(_ offset: Int) throws(DiskFormatError) -> UInt32 {
        try check(offset, 4)
        var value: UInt32 = 0
        for index in (0..<4).reversed() { value = value << 8 | UInt32(bytes[offset + index]) }
        return value
    }

    func le64(_ offset: Int) throws(DiskFormatError) -> UInt64 {
        try check(offset, 8)
        var value: UInt64 = 0
        for index in (0..<8).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
        return value
    }

    func be16(_ offset: Int) throws(DiskFormatError) -> UInt16 {
        try check(offset, 2)
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    func be32(_ offset: Int) throws(DiskFormatError) -> UInt32 {
        try check(offset, 4)
        var value: UInt32 = 0
        for index in 0..<4 { value = value << 8 | UInt32(bytes[offset + index]) }
        return value
    }

    func be64(_ offset: Int) throws(DiskFormatError) -> UInt64 {
        try check(offset, 8)
        var value: UInt64 = 0
        for index in 0..<8 { value = value << 8 | UInt64(bytes[offset + index]) }
        return value
    }

    func slice(_ offset: Int, _ count: Int) throws(DiskFormatError) -> ArraySlice<UInt8> {
        try check(offset, count)
        return bytes[offset..<(offset + count)]
    }

    func guid(_ offset: Int) throws(DiskFormatError) -> GUID {
        GUID(try slice(offset, 16))
    }

    func matches(_ offset: Int, _ signature: String) -> Bool {
        let expected = Array(signature.utf8)
        guard offset >= 0, offset + expected.count <= bytes.count else { return false }
        return bytes[offset..<(offset + expected.count)].elementsEqual(expected)
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
