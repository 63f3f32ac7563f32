/// The VHDX region table (MS-VHDX 2.2.3): where the BAT and the metadata region are.
struct VHDXRegionTable {
    struct Entry {
        var guid: GUID
        var fileOffset: UInt64
        var length: UInt32
        var required: Bool
    }

    var bat: Entry
    var metadata: Entry

    /// Parses region table 1, as qemu and libvhdi do (neither falls back to table 2).
    static func parse(
        _ bytes: [UInt8],
        at offset: UInt64,
        fileSize: UInt64
    ) throws(DiskFormatError)
        -> VHDXRegionTable
    {
        let name = "VHDX region table 1"
        let cursor = ByteCursor(bytes, structure: name, base: offset)
        guard cursor.matches(0, "regi") else { throw .malformed(name, at: offset, "signature is not 'regi'") }
        let stored = try cursor.le32(4)
        let computed = CRC32C.checksum(bytes, zeroingFieldAt: 4)
        guard stored == computed else {
            throw .malformed(
                name,
                at: offset + 4,
                "checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"
            )
        }
        let count = try cursor.le32(8)
        guard count <= VHDXLayout.maxRegionEntries else {
            throw .malformed(name, at: offset + 8, "entry count \(count) exceeds \(VHDXLayout.maxRegionEntries)")
        }
        var entries: [Entry] = []
        entries.reserveCapacity(Int(count))
        var seen = Set<GUID>()
        for index in 0..<Int(count) {
            let base = 16 + index * 32
            let entryOffset = offset + UInt64(base)
            let entry = Entry(
                guid: try cursor.guid(base),
                fileOffset: try cursor.le64(base + 16),
                length: try cursor.le32(base + 24),
                required: try cursor.le32(base + 28) & 1 == 1
            )
            // Named only when an error is thrown: building the name for every valid entry costs an allocation.
            func entryName() -> String { "VHDX region table entry \(index)" }
            // Pairs are compared for the usual two or three entries; a hostile count gets a set.
            let duplicate = count <= 32 ? entries.contains { $0.guid == entry.guid } : !seen.insert(entry.guid).inserted
            guard !duplicate else {
                throw .malformed(entryName(), at: entryOffset, "region {\(entry.guid)} is listed twice")
            }
            guard entry.fileOffset >= VHDXLayout.mebibyte, entry.fileOffset % VHDXLayout.mebibyte == 0,
                entry.length > 0, UInt64(entry.length) % VHDXLayout.mebibyte == 0
            else {
                throw .malformed(
                    entryName(),
                    at: entryOffset,
                    "region at \(entry.fileOffset) length \(entry.length) is not 1 MiB aligned"
                )
            }
            let (end, overflow) = entry.fileOffset.addingReportingOverflow(UInt64(entry.length))
            guard !overflow, end <= fileSize else {
                throw .malformed(
                    entryName(),
                    at: entryOffset,
                    "region \(entry.fileOffset)-\(end) lies past the end of the file (\(fileSize) bytes)"
                )
            }
            let known = entry.guid == VHDXLayout.batRegion || entry.guid == VHDXLayout.metadataRegion
            if !known && entry.required {
                throw .unsupported(
                    entryName(),
                    at: entryOffset,
                    "requires region {\(entry.guid)}, which this reader does not know"
                )
            }
            entries.append(entry)
        }
        guard let bat = entries.first(where: { $0.guid == VHDXLayout.batRegion }) else {
            throw .malformed(name, at: offset, "no BAT region")
        }
        guard let metadata = entries.first(where: { $0.guid == VHDXLayout.metadataRegion }) else {
            throw .malformed(name, at: offset, "no metadata region")
        }
        let ranges = entries.map { ($0.fileOffset, $0.fileOffset + UInt64($0.length)) }.sorted { $0.0 < $1.0 }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where next.0 < previous.1 {
            throw .malformed(
                name,
                at: offset,
                "region \(next.0)-\(next.1) overlaps region \(previous.0)-\(previous.1)"
            )
        }
        return VHDXRegionTable(bat: bat, metadata: metadata)
    }
}
