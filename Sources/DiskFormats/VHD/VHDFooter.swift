/// The 512-byte VHD footer (VHD spec §"Hard Disk Footer Format"), big-endian.
struct VHDFooter {
    var dataOffset: UInt64
    var timestamp: UInt32
    var currentSize: UInt64
    var diskType: UInt32
    var uniqueID: GUID

    static let size = 512
    static let fixedDataOffset = UInt64.max

    static func parse(_ bytes: [UInt8], structure: String, at offset: UInt64) throws(DiskFormatError) -> VHDFooter {
        let cursor = ByteCursor(bytes, structure: structure, base: offset)
        guard cursor.matches(0, "conectix") else { throw .malformed(structure, at: offset, "cookie is not 'conectix'") }
        let stored = try cursor.be32(64)
        let computed = VHDChecksum.compute(bytes, skipping: 64)
        guard stored == computed else {
            throw .malformed(
                structure,
                at: offset + 64,
                "checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"
            )
        }
        return VHDFooter(
            dataOffset: try cursor.be64(16),
            timestamp: try cursor.be32(24),
            currentSize: try cursor.be64(48),
            diskType: try cursor.be32(60),
            uniqueID: try cursor.guid(68)
        )
    }
}

/// The VHD checksum: one's complement of the byte sum, the checksum field counted as zero.
enum VHDChecksum {
    static func compute(_ bytes: [UInt8], skipping field: Int) -> UInt32 {
        bytes.withUnsafeBufferPointer { buffer in
            var sum: UInt32 = 0
            for index in buffer.indices { sum &+= UInt32(buffer[index]) }
            for index in field..<min(field + 4, buffer.count) where index >= 0 { sum &-= UInt32(buffer[index]) }
            return ~sum
        }
    }
}
