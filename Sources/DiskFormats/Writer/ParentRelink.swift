import ChainModel

/// Rewrites where a differencing disk says its parent is (issue 25's re-link), as byte patches the shell writes.
///
/// Only the locator changes: identity, linkage (VHDX `parent_linkage`, VHD parent unique id and time, qcow2's backing
/// format) and data are kept, so the parent must be a byte-for-byte copy of the one the child was made against. A
/// repair patches its own fresh copies only, never a file something has open.
public enum ParentRelink {
    /// Bytes to write at an offset.
    public struct Patch: Sendable, Hashable {
        public var offset: UInt64
        public var bytes: [UInt8]

        public init(offset: UInt64, bytes: [UInt8]) {
            self.offset = offset
            self.bytes = bytes
        }
    }

    /// The new parent locators; what a format has no use for is ignored.
    public struct Target: Sendable, Hashable {
        /// qcow2's backing file name, as stored (an absolute path, or a name relative to the child's directory).
        public var backingFile: String
        /// VHDX `relative_path` and VHD W2ru: from the child's directory, `\` separators.
        public var relativePath: String
        /// VHDX `absolute_win32_path` and VHD W2ku; nil removes a stale one.
        public var absoluteWin32Path: String?
        /// VHD's Parent Unicode Name.
        public var parentName: String

        public init(backingFile: String, relativePath: String, absoluteWin32Path: String?, parentName: String) {
            self.backingFile = backingFile
            self.relativePath = relativePath
            self.absoluteWin32Path = absoluteWin32Path
            self.parentName = parentName
        }

        /// The locators for a child at `child` whose parent is at `parent` (local paths).
        public static func between(child: String, parent: String, pathMap: PathMap = PathMap()) -> Target {
            let from = LocalPath.directory(of: child).split(separator: "/")
            let to = LocalPath.directory(of: parent).split(separator: "/")
            let common = zip(from, to).prefix { $0 == $1 }.count
            let relative =
                Array(repeating: "..", count: from.count - common) + to.dropFirst(common).map(String.init)
                + [LocalPath.fileName(of: parent)]
            let sameDirectory = from == to
            return Target(
                backingFile: sameDirectory ? LocalPath.fileName(of: parent) : parent,
                relativePath: relative.joined(separator: "\\"),
                absoluteWin32Path: pathMap.windowsPath(for: parent),
                parentName: LocalPath.fileName(of: parent)
            )
        }
    }

    /// The patches that make `source` (a differencing disk of `format`) name `target`.
    public static func patches(
        _ source: some ByteSource,
        format: DiskFormat,
        to target: Target
    ) throws(DiskFormatError) -> [Patch] {
        switch format {
        case .qcow2: try qcow2(source, backingFile: target.backingFile)
        case .vhdx: try vhdx(source, target)
        case .vhd: try vhd(source, target)
        case .raw: throw .unsupported("raw image", at: 0, "a raw image has no parent to re-link")
        }
    }

    /// qcow2: the backing file name, as `qemu-img rebase -u` writes it: after the header extensions in the first
    /// cluster, with `backing_file_offset` and `backing_file_size` updated.
    static func qcow2(_ source: some ByteSource, backingFile: String) throws(DiskFormatError) -> [Patch] {
        let name = "qcow2 header"
        _ = try QCOW2Reader.read(source)
        let head = try source.structure(name, at: 0, count: 104)
        let cursor = ByteCursor(head, structure: name, base: 0)
        let version = try cursor.be32(4)
        let oldOffset = try cursor.be64(8)
        let oldSize = UInt64(try cursor.be32(16))
        let clusterSize = UInt64(1) << UInt64(try cursor.be32(20))
        guard oldOffset != 0 else { throw .unsupported(name, at: 8, "the image has no backing file to re-link") }
        let bytes = Array(backingFile.utf8)
        guard !bytes.isEmpty, bytes.count <= 1023, !bytes.contains(0) else {
            throw .unsupported(name, at: 8, "a backing file name must be 1-1023 bytes without NUL")
        }
        // The end of the header extensions (the reader checked they stay inside the first cluster).
        var position = version == 3 ? UInt64(try cursor.be32(100)) : 72
        while true {
            let extensionHead = try source.structure("qcow2 header extension", at: position, count: 8)
            let extensionCursor = ByteCursor(extensionHead, structure: "qcow2 header extension", base: position)
            let length = UInt64(try extensionCursor.be32(4))
            position += 8
            if try extensionCursor.be32(0) == 0 { break }
            position += (length + 7) / 8 * 8
        }
        let offset = max(position, oldOffset)
        guard offset + UInt64(bytes.count) <= clusterSize else {
            throw .unsupported(
                name,
                at: offset,
                "a \(bytes.count)-byte backing file name does not fit in the first cluster"
            )
        }
        var field = [UInt8](repeating: 0, count: 12)
        field.putBE64(offset, at: 0)
        field.putBE32(UInt32(bytes.count), at: 8)
        return [
            Patch(offset: oldOffset, bytes: [UInt8](repeating: 0, count: Int(oldSize))),
            Patch(offset: offset, bytes: bytes),
            Patch(offset: 8, bytes: field),
        ]
    }

    /// VHDX: the parent locator item, `parent_linkage` and every other entry kept; placed where it was when it fits,
    /// else after the last metadata item, with its table entry updated.
    static func vhdx(_ source: some ByteSource, _ target: Target) throws(DiskFormatError) -> [Patch] {
        let info = try VHDXReader.read(source)
        guard info.logState != .needsReplay else {
            throw .unsupported("VHDX log", at: 0, "the log must be replayed (by Hyper-V) before the file is re-linked")
        }
        guard info.parent != nil else { throw .unsupported("VHDX metadata", at: 0, "the disk has no parent locator") }
        let tableOffset = VHDXLayout.regionTableOffsets[0]
        let tableBytes = try source.structure("VHDX region table 1", at: tableOffset, count: VHDXLayout.regionTableSize)
        let region = try VHDXRegionTable.parse(tableBytes, at: tableOffset, fileSize: source.size).metadata
        let name = "VHDX metadata table"
        let first = try source.structure(name, at: region.fileOffset, count: 32)
        let count = Int(try ByteCursor(first, structure: name, base: region.fileOffset).le16(10))
        let table = ByteCursor(
            try source.structure(name, at: region.fileOffset, count: 32 + count * 32),
            structure: name,
            base: region.fileOffset
        )
        var locatorEntry: Int?
        var end: UInt64 = 0
        for index in 0..<count {
            let at = 32 + index * 32
            let offset = UInt64(try table.le32(at + 16))
            let length = UInt64(try table.le32(at + 20))
            end = max(end, offset + length)
            if try table.guid(at) == VHDXLayout.parentLocator, try table.le32(at + 24) & 0x2 == 0 {
                locatorEntry = at
            }
        }
        guard let entry = locatorEntry else {
            throw .malformed(name, at: region.fileOffset, "no parent locator item")
        }
        let oldOffset = UInt64(try table.le32(entry + 16))
        let oldLength = Int(try table.le32(entry + 20))
        let item = ByteCursor(
            try source.structure("VHDX parent locator", at: region.fileOffset + oldOffset, count: oldLength),
            structure: "VHDX parent locator",
            base: region.fileOffset + oldOffset
        )
        var entries: [(key: String, value: String)] = []
        for index in 0..<Int(try item.le16(18)) {
            let at = 20 + index * 12
            let key = UTF16Text.lenient(
                Array(try item.slice(Int(try item.le32(at)), Int(try item.le16(at + 8)))),
                .little
            )
            let value = UTF16Text.lenient(
                Array(try item.slice(Int(try item.le32(at + 4)), Int(try item.le16(at + 10)))),
                .little
            )
            entries.append((key, value))
        }
        var replaced: [(key: String, value: String)] = []
        var wroteRelative = false
        for (key, value) in entries {
            switch key {
            case "relative_path":
                replaced.append((key, target.relativePath))
                wroteRelative = true
            case "absolute_win32_path":
                if let absolute = target.absoluteWin32Path { replaced.append((key, absolute)) }
            case "volume_path":
                // A volume GUID path names the old place; Hyper-V falls back to the other locators without it.
                continue
            default: replaced.append((key, value))
            }
        }
        if !wroteRelative { replaced.append(("relative_path", target.relativePath)) }
        if let absolute = target.absoluteWin32Path, !entries.contains(where: { $0.key == "absolute_win32_path" }) {
            replaced.append(("absolute_win32_path", absolute))
        }
        let locator = VHDXWriter.locator(entries: replaced)
        var patches: [Patch] = []
        var offset = oldOffset
        if locator.count > oldLength {
            offset = (end + 7) / 8 * 8
            guard offset + UInt64(locator.count) <= UInt64(region.length) else {
                throw .unsupported(name, at: region.fileOffset, "no room in the metadata region for the new locator")
            }
        } else {
            patches.append(
                Patch(offset: region.fileOffset + oldOffset, bytes: [UInt8](repeating: 0, count: oldLength))
            )
        }
        patches.append(Patch(offset: region.fileOffset + offset, bytes: locator))
        var field = [UInt8](repeating: 0, count: 8)
        field.putLE32(UInt32(offset), at: 0)
        field.putLE32(UInt32(locator.count), at: 4)
        patches.append(Patch(offset: region.fileOffset + UInt64(entry + 16), bytes: field))
        return patches
    }

    /// VHD: W2ru and W2ku in their data spaces (a path that does not fit is refused), the Parent Unicode Name, and the
    /// dynamic header's checksum.
    static func vhd(_ source: some ByteSource, _ target: Target) throws(DiskFormatError) -> [Patch] {
        let info = try VHDReader.read(source)
        guard info.diskType == .differencing else {
            throw .unsupported("VHD footer", at: 0, "the disk is not a differencing disk")
        }
        let footerOffset = source.size - UInt64(VHDFooter.size)
        let footer = try VHDFooter.parse(
            try source.structure("VHD footer", at: footerOffset, count: VHDFooter.size),
            structure: "VHD footer",
            at: footerOffset
        )
        var header = try source.structure("VHD dynamic header", at: footer.dataOffset, count: VHDDynamicHeader.size)
        let parsed = try VHDDynamicHeader.parse(header, at: footer.dataOffset)
        var patches: [Patch] = []
        for (index, locator) in parsed.locators.enumerated()
        where locator.platformCode == VHDReader.w2ru || locator.platformCode == VHDReader.w2ku {
            let at = 576 + index * 24
            let room = locator.dataSpace >= 512 ? Int(locator.dataSpace) : Int(locator.dataSpace) * 512
            let value = locator.platformCode == VHDReader.w2ru ? target.relativePath : target.absoluteWin32Path
            guard let value else {
                // A stale absolute path is dropped: the entry no longer names a locator.
                header.putBytes([UInt8](repeating: 0, count: 24), at: at)
                continue
            }
            let data = UTF16Text.encode(value, .little)
            guard data.count <= room else {
                throw .unsupported(
                    "VHD parent locator \(index)",
                    at: footer.dataOffset + UInt64(at),
                    "the new path needs \(data.count) bytes; the locator has room for \(room)"
                )
            }
            header.putBE32(UInt32(data.count), at: at + 8)
            patches.append(
                Patch(offset: locator.dataOffset, bytes: data + [UInt8](repeating: 0, count: room - data.count))
            )
        }
        var unicodeName = [UInt8](repeating: 0, count: 512)
        unicodeName.putBytes(UTF16Text.encode(String(target.parentName.prefix(255)), .big), at: 0)
        header.putBytes(unicodeName, at: 64)
        header.putBE32(0, at: 36)
        header.putBE32(VHDChecksum.compute(header, skipping: 36), at: 36)
        patches.append(Patch(offset: footer.dataOffset, bytes: header))
        return patches
    }
}
