/// One of the two VHDX headers (MS-VHDX 2.2.2).
struct VHDXHeader: Equatable {
    var raw: [UInt8]
    var sequenceNumber: UInt64
    var fileWriteGuid: GUID
    var dataWriteGuid: GUID
    var logGuid: GUID
    var logVersion: UInt16
    var version: UInt16
    var logLength: UInt32
    var logOffset: UInt64

    /// The name errors give header copy `index` (0 or 1): literals, so that naming costs nothing on the happy path.
    static func name(_ index: Int) -> String { index == 0 ? "VHDX header 1" : "VHDX header 2" }

    /// Parses and validates one header copy; the error says why this copy is not valid.
    static func parse(_ bytes: [UInt8], index: Int, at offset: UInt64) throws(DiskFormatError) -> VHDXHeader {
        let name = Self.name(index)
        let cursor = ByteCursor(bytes, structure: name, base: offset)
        guard cursor.matches(0, "head") else { throw .malformed(name, at: offset, "signature is not 'head'") }
        let stored = try cursor.le32(4)
        let computed = CRC32C.checksum(bytes, zeroingFieldAt: 4)
        guard stored == computed else {
            throw .malformed(
                name,
                at: offset + 4,
                "checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"
            )
        }
        return VHDXHeader(
            raw: bytes,
            sequenceNumber: try cursor.le64(8),
            fileWriteGuid: try cursor.guid(16),
            dataWriteGuid: try cursor.guid(32),
            logGuid: try cursor.guid(48),
            logVersion: try cursor.le16(64),
            version: try cursor.le16(66),
            logLength: try cursor.le32(68),
            logOffset: try cursor.le64(72)
        )
    }

    /// Chooses the current header: the only valid one, or the valid one with the greater sequence number.
    ///
    /// Equal sequence numbers are accepted only for byte-identical copies (Disk2VHD writes those).
    static func current(
        _ first: Result<VHDXHeader, DiskFormatError>,
        _ second: Result<VHDXHeader, DiskFormatError>,
        warnings: inout [String]
    ) throws(DiskFormatError) -> VHDXHeader {
        switch (first, second) {
        case (.success(let a), .success(let b)):
            if a.sequenceNumber == b.sequenceNumber {
                guard a.raw == b.raw else {
                    throw .malformed(
                        "VHDX headers",
                        at: VHDXLayout.headerOffsets[0],
                        "both headers carry sequence number \(a.sequenceNumber) but differ"
                    )
                }
                return a
            }
            return a.sequenceNumber > b.sequenceNumber ? a : b
        case (.success(let a), .failure(let error)), (.failure(let error), .success(let a)):
            warnings.append("using the only valid VHDX header; the other is damaged (\(error.message))")
            return a
        case (.failure(let a), .failure(let b)):
            throw .malformed(
                "VHDX headers",
                at: VHDXLayout.headerOffsets[0],
                "no valid header (\(a.message); \(b.message))"
            )
        }
    }
}

func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
