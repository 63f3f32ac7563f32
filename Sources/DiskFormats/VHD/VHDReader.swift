import ChainModel

/// Reads a VHD or AVHD: the footer (falling back to the copy at offset 0), and for dynamic and
/// differencing disks the dynamic header with the parent unique id, the parent name and the
/// W2ru/W2ku/MacX locators.
public enum VHDReader {
    /// Locator codes (big-endian ASCII).
    static let w2ru: UInt32 = 0x5732_7275
    static let w2ku: UInt32 = 0x5732_6B75
    static let macX: UInt32 = 0x4D61_6358
    /// Windows paths are at most 32 Ki UTF-16 units.
    static let maxLocatorLength: UInt32 = 65_536

    public static func read(_ source: some ByteSource) throws(DiskFormatError) -> DiskImageInfo {
        guard source.size >= UInt64(VHDFooter.size) else {
            throw .malformed("VHD footer", at: 0, "the file is \(source.size) bytes, smaller than a footer")
        }
        var warnings: [String] = []
        let endOffset = source.size - UInt64(VHDFooter.size)
        let atEnd = Result { () throws(DiskFormatError) -> VHDFooter in
            try VHDFooter.parse(
                try source.structure("VHD footer", at: endOffset, count: VHDFooter.size),
                structure: "VHD footer",
                at: endOffset
            )
        }
        let copy = Result { () throws(DiskFormatError) -> VHDFooter in
            try VHDFooter.parse(
                try source.structure("VHD footer copy", at: 0, count: VHDFooter.size),
                structure: "VHD footer copy",
                at: 0
            )
        }
        let footer: VHDFooter
        var endFooterPresent = true
        switch (atEnd, copy) {
        case (.success(let value), .success):
            footer = value
        case (.success(let value), .failure(let error)):
            // A fixed disk has no copy at offset 0; a dynamic one should.
            if value.diskType != 2 { warnings.append("the footer copy at offset 0 is damaged (\(error.message))") }
            footer = value
        case (.failure(let error), .success(let value)):
            warnings.append("the footer at the end is damaged (\(error.message)); using the copy at offset 0")
            footer = value
            endFooterPresent = false
        case (.failure(let error), .failure):
            throw error
        }

        switch footer.diskType {
        case 2:
            guard footer.currentSize <= endOffset else {
                throw .malformed(
                    "VHD footer",
                    at: endOffset + 48,
                    "a fixed disk of \(footer.currentSize) bytes needs a larger file"
                )
            }
            return DiskImageInfo(
                format: .vhd,
                diskType: .fixed,
                virtualSize: footer.currentSize,
                identifier: footer.uniqueID,
                warnings: warnings
            )
        case 3, 4:
            break
        default:
            throw .unsupported(
                "VHD footer",
                at: endOffset + 60,
                "disk type \(footer.diskType) is not fixed (2), dynamic (3) or differencing (4)"
            )
        }

        // Everything but the footer lies before the footer's place at the end; a structure that
        // reaches into it means the file was truncated.
        let dataEnd = BoundedSource(source: source, limit: endOffset)
        let headerBytes = try dataEnd.structure(
            "VHD dynamic header",
            at: footer.dataOffset,
            count: VHDDynamicHeader.size
        )
        let header = try VHDDynamicHeader.parse(headerBytes, at: footer.dataOffset)
        guard header.blockSize >= 512, header.blockSize % 512 == 0, header.blockSize <= 256 << 20 else {
            throw .malformed(
                "VHD dynamic header",
                at: footer.dataOffset + 32,
                "block size \(header.blockSize) is not a multiple of 512 up to 256 MiB"
            )
        }
        let needed =
            footer.currentSize / UInt64(header.blockSize) + (footer.currentSize % UInt64(header.blockSize) == 0 ? 0 : 1)
        guard UInt64(header.maxTableEntries) >= needed else {
            throw .malformed(
                "VHD dynamic header",
                at: footer.dataOffset + 28,
                "\(header.maxTableEntries) table entries cannot cover \(footer.currentSize) bytes"
            )
        }
        let (tableEnd, overflow) = header.tableOffset.addingReportingOverflow(UInt64(header.maxTableEntries) * 4)
        guard !overflow, tableEnd <= endOffset else {
            throw .malformed("VHD block allocation table", at: header.tableOffset, "lies past the end of the file")
        }
        // Blocks end before the footer at the end; without it (a file cut short), before the end of the file.
        try checkBlocks(
            source,
            header,
            virtualSize: footer.currentSize,
            dataEnd: endFooterPresent ? endOffset : source.size
        )
        guard footer.diskType == 4 else {
            return DiskImageInfo(
                format: .vhd,
                diskType: .dynamic,
                virtualSize: footer.currentSize,
                identifier: footer.uniqueID,
                warnings: warnings
            )
        }

        var parent = ParentReference(
            identifier: header.parentUniqueID,
            parentUnicodeName: header.parentUnicodeName.isEmpty ? nil : header.parentUnicodeName
        )
        for (index, locator) in header.locators.enumerated()
        where [w2ru, w2ku, macX].contains(locator.platformCode) {
            let name = "VHD parent locator \(index)"
            guard locator.dataLength > 0, locator.dataLength <= maxLocatorLength else {
                warnings.append("\(name) has length \(locator.dataLength); ignored")
                continue
            }
            let data = try dataEnd.structure(name, at: locator.dataOffset, count: Int(locator.dataLength))
            switch locator.platformCode {
            case w2ru: parent.relativePath = UTF16Text.lenient(data, .little)
            case w2ku: parent.absoluteWin32Path = UTF16Text.lenient(data, .little)
            default: parent.macURL = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return DiskImageInfo(
            format: .vhd,
            diskType: .differencing,
            virtualSize: footer.currentSize,
            identifier: footer.uniqueID,
            parent: parent,
            warnings: warnings
        )
    }
}

extension VHDReader {
    /// How much of the block allocation table a parse reads to check that blocks lie inside the file (issue 26).
    ///
    /// 48 KiB: the first 12,288 blocks (24 GiB with the usual 2 MiB blocks); the agent's header cache keeps the
    /// answer while size and mtime are unchanged.
    static let tableCheckBytes = 48 * 1024

    /// Every allocated block among the first `tableCheckBytes` of the table (its sector bitmap and its data) ends by
    /// `dataEnd`.
    ///
    /// A copy cut short is malformed, as libvhdi and qemu-img refuse it.
    static func checkBlocks(
        _ source: some ByteSource,
        _ header: VHDDynamicHeader,
        virtualSize: UInt64,
        dataEnd: UInt64
    ) throws(DiskFormatError) {
        let blockSize = UInt64(header.blockSize)
        let blocks = virtualSize / blockSize + (virtualSize % blockSize == 0 ? 0 : 1)
        let count = Int(min(min(blocks, UInt64(header.maxTableEntries)) * 4, UInt64(tableCheckBytes)))
        guard count > 0 else { return }
        let name = "VHD block allocation table"
        let bytes = try source.structure(name, at: header.tableOffset, count: count)
        let cursor = ByteCursor(bytes, structure: name, base: header.tableOffset)
        // The sector bitmap before each block: one bit per sector, rounded up to whole sectors.
        let bitmap = ((blockSize / 512 + 7) / 8 + 511) / 512 * 512
        for index in 0..<count / 4 {
            let sector = try cursor.be32(index * 4)
            guard sector != 0xFFFF_FFFF else { continue }
            let start = UInt64(sector) * 512
            guard start + bitmap + blockSize <= dataEnd else {
                throw .malformed(
                    name,
                    at: header.tableOffset + UInt64(index) * 4,
                    "block \(index) lies at byte \(start), past the end of the data (\(dataEnd) bytes): the file was "
                        + "cut short, probably by an interrupted copy"
                )
            }
        }
    }
}

/// A view of a source that ends early: reads past `limit` are malformed.
private struct BoundedSource<Source: ByteSource>: ByteSource {
    let source: Source
    let limit: UInt64
    var size: UInt64 { min(limit, source.size) }

    func read(at offset: UInt64, count: Int) throws(DiskFormatError) -> [UInt8] {
        try source.read(at: offset, count: count)
    }
}
