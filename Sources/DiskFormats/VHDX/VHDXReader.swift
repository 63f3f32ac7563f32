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

    /// The BAT region must hold an entry for every block (MS-VHDX 2.5).
    private static func checkBATLength(_ metadata: VHDXMetadata, _ bat: VHDXRegionTable.Entry) throws(DiskFormatError) {
        let blockSize = UInt64(metadata.blockSize)
        let chunkRatio = (UInt64(1) << 23) * UInt64(metadata.logicalSectorSize) / blockSize
        let payload = (metadata.virtualSize + blockSize - 1) / blockSize
        let entries =
            metadata.hasParent
            ? ((payload + chunkRatio - 1) / chunkRatio) * (chunkRatio + 1)
            : payload + (payload - 1) / chunkRatio
        guard entries * 8 <= UInt64(bat.length) else {
            throw .malformed(
                "VHDX BAT region",
                at: bat.fileOffset,
                "\(bat.length) bytes cannot hold the \(entries) entries a \(metadata.virtualSize)-byte disk needs"
            )
        }
    }
}
