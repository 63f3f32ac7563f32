/// Writes valid, sparse dynamic and differencing VHDX files the way Hyper-V lays them out: both
/// headers, both region tables, a 1 MiB empty log, the metadata region with the six system items,
/// and an all-zero BAT (every block "not present": zeros for a base, "read the parent" for a child).
public enum VHDXWriter {
    /// What to write.
    ///
    /// GUIDs come from the caller: the pure core has no randomness of its own.
    public struct Options: Sendable {
        public var virtualSize: UInt64
        public var blockSize: UInt32
        public var logicalSectorSize: UInt32
        public var physicalSectorSize: UInt32
        public var fileWriteGuid: GUID
        public var dataWriteGuid: GUID
        public var virtualDiskID: GUID
        public var parent: Parent?
        public var creator: String

        public init(
            virtualSize: UInt64,
            blockSize: UInt32? = nil,
            logicalSectorSize: UInt32 = 512,
            physicalSectorSize: UInt32 = 4096,
            fileWriteGuid: GUID,
            dataWriteGuid: GUID,
            virtualDiskID: GUID,
            parent: Parent? = nil,
            creator: String = "chainkeeper"
        ) {
            self.virtualSize = virtualSize
            // Hyper-V's defaults: 32 MiB blocks for a base disk, 2 MiB for a differencing one.
            self.blockSize = blockSize ?? (parent == nil ? 32 << 20 : 2 << 20)
            self.logicalSectorSize = logicalSectorSize
            self.physicalSectorSize = physicalSectorSize
            self.fileWriteGuid = fileWriteGuid
            self.dataWriteGuid = dataWriteGuid
            self.virtualDiskID = virtualDiskID
            self.parent = parent
            self.creator = creator
        }
    }

    /// The parent locator of a differencing disk, with the keys Hyper-V sets.
    public struct Parent: Sendable {
        /// The parent's current DataWriteGuid.
        public var dataWriteGuid: GUID
        /// `relative_path`: from the child's directory, with `\` separators, such as `disk.vhdx`.
        public var relativePath: String?
        /// `volume_path`: `\\?\Volume{GUID}\…`.
        public var volumePath: String?
        /// `absolute_win32_path`: `\\?\C:\…`.
        public var absoluteWin32Path: String?
        /// Extra or replacement key/value pairs, written as given (tests use it to write hostile locators).
        public var extraEntries: [(key: String, value: String)]

        public init(
            dataWriteGuid: GUID,
            relativePath: String?,
            volumePath: String? = nil,
            absoluteWin32Path: String? = nil,
            extraEntries: [(key: String, value: String)] = []
        ) {
            self.dataWriteGuid = dataWriteGuid
            self.relativePath = relativePath
            self.volumePath = volumePath
            self.absoluteWin32Path = absoluteWin32Path
            self.extraEntries = extraEntries
        }

        var entries: [(key: String, value: String)] {
            var list: [(key: String, value: String)] = [("parent_linkage", "{\(dataWriteGuid.mixedEndianText)}")]
            if let relativePath { list.append(("relative_path", relativePath)) }
            if let volumePath { list.append(("volume_path", volumePath)) }
            if let absoluteWin32Path { list.append(("absolute_win32_path", absoluteWin32Path)) }
            return list + extraEntries
        }
    }

    static let logOffset: UInt64 = 1 << 20
    static let metadataOffset: UInt64 = 2 << 20
    static let batOffset: UInt64 = 3 << 20

    public static func image(_ options: Options) -> SparseImage {
        var image = SparseImage(length: 0)
        var identifier = [UInt8](repeating: 0, count: 8 + 512)
        identifier.putASCII("vhdxfile", at: 0)
        identifier.putBytes(UTF16Text.encode(String(options.creator.prefix(255)), .little), at: 8)
        image.write(identifier, at: 0)

        for (index, offset) in VHDXLayout.headerOffsets.enumerated() {
            image.write(header(options, sequence: UInt64(index + 1)), at: offset)
        }

        let batLength = batRegionLength(options)
        var table = [UInt8](repeating: 0, count: VHDXLayout.regionTableSize)
        table.putASCII("regi", at: 0)
        table.putLE32(2, at: 8)
        for (index, region) in [
            (VHDXLayout.batRegion, batOffset, batLength), (VHDXLayout.metadataRegion, metadataOffset, UInt32(1 << 20)),
        ].enumerated() {
            let at = 16 + index * 32
            table.putBytes(region.0.bytes, at: at)
            table.putLE64(region.1, at: at + 16)
            table.putLE32(region.2, at: at + 24)
            table.putLE32(1, at: at + 28)
        }
        table.putLE32(CRC32C.checksum(table, zeroingFieldAt: 4), at: 4)
        for offset in VHDXLayout.regionTableOffsets { image.write(table, at: offset) }

        image.write(metadata(options), at: metadataOffset)
        image.length = batOffset + UInt64(batLength)
        return image
    }

    private static func header(_ options: Options, sequence: UInt64) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: VHDXLayout.headerSize)
        header.putASCII("head", at: 0)
        header.putLE64(sequence, at: 8)
        header.putBytes(options.fileWriteGuid.bytes, at: 16)
        header.putBytes(options.dataWriteGuid.bytes, at: 32)
        header.putLE16(0, at: 64)  // LogVersion
        header.putLE16(1, at: 66)  // Version
        header.putLE32(1 << 20, at: 68)  // LogLength
        header.putLE64(logOffset, at: 72)
        header.putLE32(CRC32C.checksum(header, zeroingFieldAt: 4), at: 4)
        return header
    }

    private static func batRegionLength(_ options: Options) -> UInt32 {
        let blockSize = UInt64(options.blockSize)
        let chunkRatio = (UInt64(1) << 23) * UInt64(options.logicalSectorSize) / blockSize
        let payload = max(1, (options.virtualSize + blockSize - 1) / blockSize)
        let entries =
            options.parent == nil
            ? payload + (payload - 1) / chunkRatio
            : ((payload + chunkRatio - 1) / chunkRatio) * (chunkRatio + 1)
        let mebibyte = UInt64(1 << 20)
        return UInt32(max(mebibyte, (entries * 8 + mebibyte - 1) / mebibyte * mebibyte))
    }

    private static func metadata(_ options: Options) -> [UInt8] {
        var items: [(GUID, UInt32, [UInt8])] = []  // id, flags, payload
        var parameters = [UInt8](repeating: 0, count: 8)
        parameters.putLE32(options.blockSize, at: 0)
        parameters.putLE32(options.parent == nil ? 0 : 2, at: 4)
        items.append((VHDXLayout.fileParameters, 0x4, parameters))
        var size = [UInt8](repeating: 0, count: 8)
        size.putLE64(options.virtualSize, at: 0)
        items.append((VHDXLayout.virtualDiskSize, 0x6, size))
        items.append((VHDXLayout.virtualDiskID, 0x6, options.virtualDiskID.bytes))
        var logical = [UInt8](repeating: 0, count: 4)
        logical.putLE32(options.logicalSectorSize, at: 0)
        items.append((VHDXLayout.logicalSectorSize, 0x6, logical))
        var physical = [UInt8](repeating: 0, count: 4)
        physical.putLE32(options.physicalSectorSize, at: 0)
        items.append((VHDXLayout.physicalSectorSize, 0x6, physical))
        if let parent = options.parent { items.append((VHDXLayout.parentLocator, 0x4, locator(parent))) }

        var region = [UInt8](repeating: 0, count: VHDXLayout.metadataTableSize)
        region.putASCII("metadata", at: 0)
        region.putLE16(UInt16(items.count), at: 10)
        var itemOffset = VHDXLayout.metadataTableSize
        for (index, item) in items.enumerated() {
            let at = 32 + index * 32
            region.putBytes(item.0.bytes, at: at)
            region.putLE32(UInt32(itemOffset), at: at + 16)
            region.putLE32(UInt32(item.2.count), at: at + 20)
            region.putLE32(item.1, at: at + 24)
            region += item.2
            let padded = (item.2.count + 7) / 8 * 8
            region += [UInt8](repeating: 0, count: padded - item.2.count)
            itemOffset += padded
        }
        return region
    }

    static func locator(_ parent: Parent) -> [UInt8] { locator(entries: parent.entries) }

    static func locator(entries: [(key: String, value: String)]) -> [UInt8] {
        var item = [UInt8](repeating: 0, count: 20 + entries.count * 12)
        item.putBytes(VHDXLayout.vhdxParentLocatorType.bytes, at: 0)
        item.putLE16(UInt16(entries.count), at: 18)
        for (index, entry) in entries.enumerated() {
            let key = UTF16Text.encode(entry.key, .little)
            let value = UTF16Text.encode(entry.value, .little)
            let at = 20 + index * 12
            item.putLE32(UInt32(item.count), at: at)
            item += key
            item.putLE32(UInt32(item.count), at: at + 4)
            item += value
            item.putLE16(UInt16(key.count), at: at + 8)
            item.putLE16(UInt16(value.count), at: at + 10)
        }
        return item
    }
}
