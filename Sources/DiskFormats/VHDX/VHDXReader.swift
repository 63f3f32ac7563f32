import ChainModel

/// Reads what chain discovery needs from a VHDX or AVHDX file: identity, size, type, parent locator and log state.
///
/// Touches the file identifier, both headers, region table 1, the metadata table and its items, and the log only when
/// LogGuid is set: about 150 KiB, never the payload.
public enum VHDXReader {
    public static func read(_ source: some ByteSource) throws(DiskFormatError) -> DiskImageInfo {
        let identifier = try source.structure("VHDX file type identifier", at: 0, count: 8)
        guard identifier == Array("vhdxfile".utf8) else {
            throw .malformed("VHDX file type identifier", at: 0, "signature is not 'vhdxfile'")
        }
        var warnings: [String] = []
        let headers = VHDXLayout.headerOffsets.enumerated().map { index, offset in
            Result { () throws(DiskFormatError) -> VHDXHeader in
                let bytes = try source.structure(VHDXHeader.name(index), at: offset, count: VHDXLayout.headerSize)
                return try VHDXHeader.parse(bytes, index: index, at: offset)
            }
        }
        let header = try VHDXHeader.current(headers[0], headers[1], warnings: &warnings)
        guard header.version == 1 else {
            throw .unsupported(
                "VHDX header",
                at: VHDXLayout.headerOffsets[0] + 66,
                "version \(header.version) is not 1"
            )
        }
        let tableOffset = VHDXLayout.regionTableOffsets[0]
        let tableBytes = try source.structure("VHDX region table 1", at: tableOffset, count: VHDXLayout.regionTableSize)
        let regions = try VHDXRegionTable.parse(tableBytes, at: tableOffset, fileSize: source.size)

        let logState = try VHDXLog.state(of: header, in: source)
        if logState == .needsReplay {
            // Until the log is replayed the metadata may be stale: report it as a best guess, and
            // let the chain resolver refuse to follow the parent locator.
            let stale = try? VHDXMetadata.read(source, region: regions.metadata)
            return DiskImageInfo(
                format: .vhdx,
                diskType: stale.map { $0.hasParent ? .differencing : ($0.leaveBlockAllocated ? .fixed : .dynamic) }
                    ?? .dynamic,
                virtualSize: stale?.virtualSize ?? 0,
                identifier: header.dataWriteGuid,
                parent: stale?.parentLocator,
                logState: .needsReplay,
                warnings: warnings + ["the log must be replayed before the metadata can be trusted"]
            )
        }
        if logState == .orphanedLogGuid {
            warnings.append("LogGuid is set but the log holds no valid entry; treating the log as empty")
        }
        if header.logLength > 0 {
            // Even an empty log must sit inside the file, 1 MiB aligned, clear of every region.
            let (logEnd, overflow) = header.logOffset.addingReportingOverflow(UInt64(header.logLength))
            guard !overflow, header.logOffset >= VHDXLayout.mebibyte, header.logOffset % VHDXLayout.mebibyte == 0,
                UInt64(header.logLength) % VHDXLayout.mebibyte == 0, logEnd <= source.size
            else {
                throw .malformed(
                    "VHDX log",
                    at: VHDXLayout.headerOffsets[0] + 68,
                    "log at \(header.logOffset) length \(header.logLength) is not a 1 MiB aligned region inside the file"
                )
            }
            for region in [regions.bat, regions.metadata]
            where region.fileOffset < logEnd && header.logOffset < region.fileOffset + UInt64(region.length) {
                throw .malformed("VHDX log", at: header.logOffset, "log overlaps the region at \(region.fileOffset)")
            }
        }
        let metadata = try VHDXMetadata.read(source, region: regions.metadata)
        let diskType: DiskType = metadata.hasParent ? .differencing : (metadata.leaveBlockAllocated ? .fixed : .dynamic)
        try checkBATLength(metadata, regions.bat)
        try checkBATEntries(source, metadata, regions.bat)
        return DiskImageInfo(
            format: .vhdx,
            diskType: diskType,
            virtualSize: metadata.virtualSize,
            identifier: header.dataWriteGuid,
            parent: metadata.parentLocator,
            logState: logState,
            warnings: warnings
        )
    }

    /// How much of the BAT a parse reads to check that its blocks lie inside the file (issue 26).
    ///
    /// 32 KiB: the first 4,096 entries (128 GiB of a disk with Hyper-V's 32 MiB blocks), so that a header parse (headers, the 64 KiB
    /// region table, metadata) stays under 128 KiB and never turns into a table scan. The agent's header cache keeps
    /// the answer while size and mtime are unchanged.
    static let batCheckBytes = 32 * 1024

    /// Every present block and sector bitmap among the first `batCheckBytes` of the BAT lies inside the file: a copy
    /// cut short (the BAT pointing past its end) is malformed, as qemu-img refuses it (MS-VHDX 2.5.1).
    private static func checkBATEntries(
        _ source: some ByteSource,
        _ metadata: VHDXMetadata,
        _ bat: VHDXRegionTable.Entry
    ) throws(DiskFormatError) {
        let (blockSize, chunkRatio, payload, entries) = batLayout(metadata)
        let count = Int(min(entries * 8, UInt64(min(Int(bat.length), batCheckBytes)))) / 8 * 8
        guard count > 0 else { return }
        let bytes = try source.structure("VHDX BAT", at: bat.fileOffset, count: count)
        let cursor = ByteCursor(bytes, structure: "VHDX BAT", base: bat.fileOffset)
        for index in 0..<UInt64(count / 8) {
            let entry = try cursor.le64(Int(index) * 8)
            let state = entry & 0b111
            let offset = (entry >> 20) << 20
            let isBitmap = (index + 1) % (chunkRatio + 1) == 0
            let what: String
            let length: UInt64
            if isBitmap {
                guard state == 6 else { continue }
                what = "the sector bitmap of chunk \(index / (chunkRatio + 1))"
                length = VHDXLayout.mebibyte
            } else {
                guard state == 6 || state == 7 else { continue }
                let block = index - index / (chunkRatio + 1)
                guard block < payload else { continue }
                what = "block \(block)"
                length = min(blockSize, metadata.virtualSize - block * blockSize)
            }
            let (end, overflow) = offset.addingReportingOverflow(length)
            guard offset >= VHDXLayout.mebibyte, !overflow, end <= source.size else {
                throw .malformed(
                    "VHDX BAT",
                    at: bat.fileOffset + index * 8,
                    "entry \(index) places \(what) at byte \(offset), past the end of the \(source.size)-byte file "
                        + "(or in its header): the file was cut short, probably by an interrupted copy"
                )
            }
        }
    }

    /// The BAT's layout (MS-VHDX 2.5): payload blocks in chunks of `chunkRatio`, each chunk followed by its sector
    /// bitmap entry (a base disk's last, partial chunk has none).
    private static func batLayout(
        _ metadata: VHDXMetadata
    ) -> (blockSize: UInt64, chunkRatio: UInt64, payload: UInt64, entries: UInt64) {
        let blockSize = UInt64(metadata.blockSize)
        let chunkRatio = (UInt64(1) << 23) * UInt64(metadata.logicalSectorSize) / blockSize
        let payload = (metadata.virtualSize + blockSize - 1) / blockSize
        let entries =
            metadata.hasParent
            ? ((payload + chunkRatio - 1) / chunkRatio) * (chunkRatio + 1)
            : payload + (payload == 0 ? 0 : (payload - 1) / chunkRatio)
        return (blockSize, chunkRatio, payload, entries)
    }

    /// The BAT region must hold an entry for every block (MS-VHDX 2.5).
    private static func checkBATLength(_ metadata: VHDXMetadata, _ bat: VHDXRegionTable.Entry) throws(DiskFormatError) {
        let entries = batLayout(metadata).entries
        guard entries * 8 <= UInt64(bat.length) else {
            throw .malformed(
                "VHDX BAT region",
                at: bat.fileOffset,
                "\(bat.length) bytes cannot hold the \(entries) entries a \(metadata.virtualSize)-byte disk needs"
            )
        }
    }
}
