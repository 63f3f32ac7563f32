/// The VHDX metadata region's table and the system items chain discovery needs (MS-VHDX 2.6).
struct VHDXMetadata {
    var blockSize: UInt32
    var leaveBlockAllocated: Bool
    var hasParent: Bool
    var virtualSize: UInt64
    var virtualDiskID: GUID
    var logicalSectorSize: UInt32
    var physicalSectorSize: UInt32
    var parentLocator: ParentReference?

    private struct EntryKey: Hashable {
        var id: GUID
        var isUser: Bool
    }

    /// The system items this reader understands; any other system item marked required is refused.
    private static let knownItems: [GUID] = [
        VHDXLayout.fileParameters, VHDXLayout.virtualDiskSize, VHDXLayout.virtualDiskID,
        VHDXLayout.logicalSectorSize, VHDXLayout.physicalSectorSize, VHDXLayout.parentLocator,
    ]

    fileprivate struct Entry {
        var id: GUID
        var offset: UInt32
        var length: UInt32
        var isUser: Bool
        var isRequired: Bool
        var fileOffset: UInt64
    }

    /// Up to this many entries, duplicates are found by comparing pairs; beyond it (only hostile files), with a set.
    private static let pairwiseLimit = 32

    static func read(_ source: some ByteSource, region: VHDXRegionTable.Entry) throws(DiskFormatError) -> VHDXMetadata {
        let name = "VHDX metadata table"
        let base = region.fileOffset
        // One read covers the header and up to 127 entries, which is every real file.
        let first = try source.structure(name, at: base, count: 4096)
        let headCursor = ByteCursor(first, structure: name, base: base)
        guard headCursor.matches(0, "metadata") else { throw .malformed(name, at: base, "signature is not 'metadata'") }
        let count = try headCursor.le16(10)
        guard count <= VHDXLayout.maxMetadataEntries else {
            throw .malformed(name, at: base + 10, "entry count \(count) exceeds \(VHDXLayout.maxMetadataEntries)")
        }
        let tableLength = 32 + Int(count) * 32
        let table =
            tableLength <= first.count
            ? headCursor
            : ByteCursor(try source.structure(name, at: base, count: tableLength), structure: name, base: base)
        var entries: [Entry] = []
        entries.reserveCapacity(Int(count))
        var seen = Set<EntryKey>()
        for index in 0..<Int(count) {
            let at = 32 + index * 32
            let entryOffset = base + UInt64(at)
            func entryName() -> String { "VHDX metadata entry \(index)" }
            let flags = try table.le32(at + 24)
            let entry = Entry(
                id: try table.guid(at),
                offset: try table.le32(at + 16),
                length: try table.le32(at + 20),
                isUser: flags & 1 != 0,
                isRequired: flags & 4 != 0,
                fileOffset: base + UInt64(try table.le32(at + 16))
            )
            let duplicate =
                count <= pairwiseLimit
                ? entries.contains { $0.id == entry.id && $0.isUser == entry.isUser }
                : !seen.insert(EntryKey(id: entry.id, isUser: entry.isUser)).inserted
            guard !duplicate else {
                throw .malformed(
                    entryName(),
                    at: entryOffset,
                    "\(VHDXLayout.name(ofItem: entry.id)) is listed twice"
                )
            }
            if entry.length == 0 {
                guard entry.offset == 0 else {
                    throw .malformed(
                        entryName(),
                        at: entryOffset,
                        "an empty item must have offset 0"
                    )
                }
            } else {
                guard entry.offset >= UInt32(VHDXLayout.metadataTableSize),
                    entry.length <= VHDXLayout.maxMetadataItemLength,
                    UInt64(entry.offset) + UInt64(entry.length) <= UInt64(region.length)
                else {
                    throw .malformed(
                        entryName(),
                        at: entryOffset,
                        "item at region offset \(entry.offset) length \(entry.length) lies outside the metadata region"
                    )
                }
            }
            entries.append(entry)
        }
        if count > pairwiseLimit || entries.containsOverlap {
            // Sorted by offset, so the error names the first overlap as a reader walking the region meets it.
            let placed = entries.filter { $0.length > 0 }.sorted { $0.offset < $1.offset }
            for (previous, next) in zip(placed, placed.dropFirst())
            where next.offset < previous.offset + previous.length {
                throw .malformed(
                    name,
                    at: base,
                    "\(VHDXLayout.name(ofItem: next.id)) overlaps \(VHDXLayout.name(ofItem: previous.id))"
                )
            }
        }

        var wanted: [Entry] = []
        wanted.reserveCapacity(entries.count)
        for entry in entries where !entry.isUser {
            if !knownItems.contains(entry.id) {
                if entry.isRequired {
                    throw .unsupported(
                        "VHDX metadata",
                        at: entry.fileOffset,
                        "requires \(VHDXLayout.name(ofItem: entry.id)), which this reader does not know"
                    )
                }
                continue
            }
            wanted.append(entry)
        }
        // The known items sit together after the table: read their span at once when it is small, and
        // give each item a window of it.
        var items: [(id: GUID, bytes: ByteCursor)] = []
        items.reserveCapacity(wanted.count)
        var spanStart = wanted.first?.fileOffset ?? base
        var spanEnd = spanStart
        for entry in wanted {
            spanStart = min(spanStart, entry.fileOffset)
            spanEnd = max(spanEnd, entry.fileOffset + UInt64(entry.length))
        }
        if !wanted.isEmpty, spanEnd - spanStart <= 65_536 {
            let span = ByteCursor(
                try source.structure("VHDX metadata items", at: spanStart, count: Int(spanEnd - spanStart)),
                structure: "VHDX metadata items",
                base: spanStart
            )
            for entry in wanted {
                let window = try span.window(
                    Int(entry.fileOffset - spanStart),
                    Int(entry.length),
                    structure: VHDXLayout.name(ofItem: entry.id)
                )
                items.append((entry.id, window))
            }
        } else {
            for entry in wanted {
                let itemName = VHDXLayout.name(ofItem: entry.id)
                let bytes = try source.structure(itemName, at: entry.fileOffset, count: Int(entry.length))
                items.append((entry.id, ByteCursor(bytes, structure: itemName, base: entry.fileOffset)))
            }
        }
        for entry in entries where entry.isUser && entry.isRequired {
            throw .unsupported(
                "VHDX metadata",
                at: entry.fileOffset,
                "requires user item {\(entry.id)}, which this reader does not know"
            )
        }

        func item(_ id: GUID, _ length: Int) throws(DiskFormatError) -> ByteCursor {
            guard let found = items.first(where: { $0.id == id })?.bytes else {
                throw .malformed(name, at: base, "the required \(VHDXLayout.name(ofItem: id)) item is missing")
            }
            guard found.count >= length else {
                throw .malformed(
                    found.structure,
                    at: found.base,
                    "is \(found.count) bytes, expected at least \(length)"
                )
            }
            return found
        }

        let parameters = try item(VHDXLayout.fileParameters, 8)
        let blockSize = try parameters.le32(0)
        let flags = try parameters.le32(4)
        guard blockSize >= 1 << 20, blockSize <= 256 << 20, blockSize & (blockSize - 1) == 0 else {
            throw .malformed(
                "File Parameters",
                at: parameters.base,
                "block size \(blockSize) is not a power of two in 1-256 MiB"
            )
        }
        let logical = try item(VHDXLayout.logicalSectorSize, 4).le32(0)
        guard logical == 512 || logical == 4096 else {
            throw .malformed(
                "Logical Sector Size",
                at: try item(VHDXLayout.logicalSectorSize, 4).base,
                "\(logical) is neither 512 nor 4096"
            )
        }
        let physical = try item(VHDXLayout.physicalSectorSize, 4).le32(0)
        guard physical == 512 || physical == 4096 else {
            throw .malformed(
                "Physical Sector Size",
                at: try item(VHDXLayout.physicalSectorSize, 4).base,
                "\(physical) is neither 512 nor 4096"
            )
        }
        let sizeItem = try item(VHDXLayout.virtualDiskSize, 8)
        let virtualSize = try sizeItem.le64(0)
        guard virtualSize > 0, virtualSize <= VHDXLayout.maxVirtualSize, virtualSize % UInt64(logical) == 0 else {
            throw .malformed(
                "Virtual Disk Size",
                at: sizeItem.base,
                "\(virtualSize) is not a multiple of \(logical) up to 64 TiB"
            )
        }
        let hasParent = flags & 2 != 0
        var locator: ParentReference?
        if hasParent {
            let locatorItem = try item(VHDXLayout.parentLocator, 20)
            locator = try VHDXParentLocator.parse(locatorItem)
        }
        return VHDXMetadata(
            blockSize: blockSize,
            leaveBlockAllocated: flags & 1 != 0,
            hasParent: hasParent,
            virtualSize: virtualSize,
            virtualDiskID: try item(VHDXLayout.virtualDiskID, 16).guid(0),
            logicalSectorSize: logical,
            physicalSectorSize: physical,
            parentLocator: locator
        )
    }
}

extension [VHDXMetadata.Entry] {
    /// Whether two non-empty items share a byte: pairwise, without allocating, for the handful of entries real files have.
    fileprivate var containsOverlap: Bool {
        for (index, first) in enumerated() where first.length > 0 {
            for second in self[(index + 1)...] where second.length > 0 {
                if first.offset < second.offset + second.length && second.offset < first.offset + first.length {
                    return true
                }
            }
        }
        return false
    }
}
