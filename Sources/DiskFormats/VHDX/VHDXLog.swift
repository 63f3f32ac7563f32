/// Whether a VHDX log holds entries that must be replayed (MS-VHDX 2.3).
enum VHDXLog {
    /// With a non-zero LogGuid, looks for a valid log entry of that log.
    ///
    /// A valid entry means the metadata may be stale; none means the LogGuid is a leftover (qemu opens such files).
    static func state(of header: VHDXHeader, in source: some ByteSource) throws(DiskFormatError) -> LogState {
        guard !header.logGuid.isZero else { return .clean }
        let name = "VHDX log"
        let sector = UInt64(VHDXLayout.logSectorSize)
        guard header.logVersion == 0 else {
            throw .unsupported(name, at: VHDXLayout.headerOffsets[0] + 64, "log version \(header.logVersion) is not 0")
        }
        guard header.logOffset >= VHDXLayout.mebibyte, header.logOffset % VHDXLayout.mebibyte == 0,
            header.logLength > 0, UInt64(header.logLength) % VHDXLayout.mebibyte == 0
        else {
            throw .malformed(
                name,
                at: header.logOffset,
                "log at \(header.logOffset) length \(header.logLength) is not 1 MiB aligned"
            )
        }
        let log = try source.structure(name, at: header.logOffset, count: Int(header.logLength))
        let cursor = ByteCursor(log, structure: name, base: header.logOffset)
        var position = 0
        while position + VHDXLayout.logSectorSize <= log.count {
            defer { position += VHDXLayout.logSectorSize }
            guard cursor.matches(position, "loge"), try cursor.guid(position + 32) == header.logGuid else { continue }
            let length = Int(try cursor.le32(position + 8))
            let sequence = try cursor.le64(position + 16)
            guard length >= VHDXLayout.logSectorSize, UInt64(length) % sector == 0, length <= log.count - position,
                sequence > 0
            else { continue }
            let entry = Array(log[position..<(position + length)])
            if try cursor.le32(position + 4) == CRC32C.checksum(entry, zeroingFieldAt: 4) { return .needsReplay }
        }
        return .orphanedLogGuid
    }
}
