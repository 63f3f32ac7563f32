/// The 1024-byte dynamic disk header of dynamic and differencing VHDs, big-endian.
struct VHDDynamicHeader {
    struct Locator {
        var platformCode: UInt32
        var dataSpace: UInt32
        var dataLength: UInt32
        var dataOffset: UInt64
    }

    var tableOffset: UInt64
    var maxTableEntries: UInt32
    var blockSize: UInt32
    var parentUniqueID: GUID
    var parentTimestamp: UInt32
    var parentUnicodeName: String
    var locators: [Locator]

    static let size = 1024

    static func parse(_ bytes: [UInt8], at offset: UInt64) throws(DiskFormatError) -> VHDDynamicHeader {
        let name = "VHD dynamic header"
        let cursor = ByteCursor(bytes, structure: name, base: offset)
        guard cursor.matches(0, "cxsparse") else { throw .malformed(name, at: offset, "cookie is not 'cxsparse'") }
        let stored = try cursor.be32(36)
        let computed = VHDChecksum.compute(bytes, skipping: 36)
        guard stored == computed else {
            throw .malformed(
                name,
                at: offset + 36,
                "checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"
            )
        }
        var locators: [Locator] = []
        for index in 0..<8 {
            let at = 576 + index * 24
            locators.append(
                Locator(
                    platformCode: try cursor.be32(at),
                    dataSpace: try cursor.be32(at + 4),
                    dataLength: try cursor.be32(at + 8),
                    dataOffset: try cursor.be64(at + 16)
                )
            )
        }
        return VHDDynamicHeader(
            tableOffset: try cursor.be64(16),
            maxTableEntries: try cursor.be32(28),
            blockSize: try cursor.be32(32),
            parentUniqueID: try cursor.guid(40),
            parentTimestamp: try cursor.be32(56),
            parentUnicodeName: UTF16Text.lenient(try cursor.slice(64, 512), .big),
            locators: locators
        )
    }
}
