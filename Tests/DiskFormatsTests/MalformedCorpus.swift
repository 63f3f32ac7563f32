import DiskFormats
import DiskFormatsTesting
import Testing

/// The malformed-input table of disk-formats.md §7, one case per row that applies to a header parse, plus the spec's
/// bounds rules.
///
/// Each case is a mutated copy of a valid image.
enum MalformedCorpus {
    enum Expectation {
        /// The parse fails with this code, naming a structure containing this text.
        case error(DiskFormatError.Code, String)
        /// The parse succeeds, with a warning containing this text.
        case warning(String)
        /// The parse succeeds and the disk has this type.
        case parses(DiskType)
        /// The parse succeeds and reports a log to replay.
        case needsReplay
    }

    struct Case: CustomTestStringConvertible {
        var name: String
        var fileName: String
        var bytes: [UInt8]
        var expectation: Expectation
        var testDescription: String { name }
    }

    // VHDX child layout from the writer: headers at 64/128 KiB, region tables at 192/256 KiB,
    // metadata region at 2 MiB with its items from 2 MiB + 64 KiB, in this order.
    static let header1 = 0x1_0000
    static let header2 = 0x2_0000
    static let regionTable = 0x3_0000
    static let metadata = 0x20_0000
    static let fileParameters = 0x21_0000
    static let virtualDiskSize = 0x21_0008
    static let logicalSector = 0x21_0020
    static let locator = 0x21_0030

    static func vhdx(_ edit: (inout [UInt8]) -> Void) -> [UInt8] {
        var bytes = SampleImages.vhdxChild()
        edit(&bytes)
        return bytes
    }

    static func fixHeaders(_ bytes: inout [UInt8]) {
        Mutations.fixVHDXChecksum(&bytes, at: header1, length: 4096)
        Mutations.fixVHDXChecksum(&bytes, at: header2, length: 4096)
    }

    static func fixRegionTable(_ bytes: inout [UInt8]) {
        Mutations.fixVHDXChecksum(&bytes, at: regionTable, length: 0x1_0000)
    }

    /// Replaces the UTF-16LE text `old` with `new` (same length) wherever it occurs.
    static func replaceUTF16(_ bytes: inout [UInt8], _ old: String, _ new: [UInt16]) {
        let needle = old.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let replacement = new.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        var index = 0
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0], Array(bytes[index..<(index + needle.count)]) == needle {
                bytes.replaceSubrange(index..<(index + needle.count), with: replacement)
                index += needle.count
            } else {
                index += 1
            }
        }
    }

    static func vhdxLogEntry(_ bytes: inout [UInt8], logGuid: GUID, validEntry: Bool) {
        for header in [header1, header2] { bytes.replaceSubrange((header + 48)..<(header + 64), with: logGuid.bytes) }
        fixHeaders(&bytes)
        guard validEntry else { return }
        var entry = [UInt8](repeating: 0, count: 4096)
        entry.replaceSubrange(0..<4, with: Array("loge".utf8))
        Mutations.putLE32(&entry, 4096, at: 8)
        Mutations.putLE32(&entry, 0, at: 12)
        Mutations.putLE64(&entry, 1, at: 16)
        entry.replaceSubrange(32..<48, with: logGuid.bytes)
        Mutations.putLE64(&entry, UInt64(bytes.count), at: 48)
        Mutations.putLE64(&entry, UInt64(bytes.count), at: 56)
        Mutations.fixVHDXChecksum(&entry, at: 0, length: 4096)
        bytes.replaceSubrange((1 << 20)..<((1 << 20) + 4096), with: entry)
    }

    static func vhd(_ edit: (inout [UInt8]) -> Void) -> [UInt8] {
        var bytes = SampleImages.vhdChild()
        edit(&bytes)
        return bytes
    }

    static func qcow2(_ edit: (inout [UInt8]) -> Void) -> [UInt8] {
        var bytes = SampleImages.qcow2()
        edit(&bytes)
        return bytes
    }

    static let otherGuid = GUID(bytes: [UInt8](repeating: 0x5A, count: 16))

    static var cases: [Case] {
        var list: [Case] = []
        func add(_ name: String, _ file: String, _ bytes: [UInt8], _ expectation: Expectation) {
            list.append(Case(name: name, fileName: file, bytes: bytes, expectation: expectation))
        }
        // VHDX: headers.
        add(
            "current header CRC broken falls back to the other",
            "c.avhdx",
            vhdx { $0[header2 + 100] ^= 1 },
            .warning("other is damaged")
        )
        add(
            "both header CRCs broken",
            "c.avhdx",
            vhdx {
                $0[header1 + 100] ^= 1; $0[header2 + 100] ^= 1
            },
            .error(.malformed, "VHDX headers")
        )
        add(
            "file identifier not vhdxfile",
            "c.avhdx",
            vhdx { $0[0] = UInt8(ascii: "X") },
            .error(.malformed, "VHDX file type identifier")
        )
        add(
            "header version 2",
            "c.avhdx",
            vhdx { b in
                for h in [header1, header2] { Mutations.putLE16(&b, 2, at: h + 66) }; fixHeaders(&b)
            },
            .error(.unsupportedFormat, "VHDX header")
        )
        add(
            "equal sequence numbers, different headers",
            "c.avhdx",
            vhdx { b in
                Mutations.putLE64(&b, 1, at: header2 + 8); b[header2 + 20] ^= 1; fixHeaders(&b)
            },
            .error(.malformed, "VHDX headers")
        )
        // VHDX: region table.
        add(
            "region table 1 CRC broken",
            "c.avhdx",
            vhdx { $0[regionTable + 100] ^= 1 },
            .error(.malformed, "VHDX region table 1")
        )
        add(
            "region entry count 0xFFFFFFFF",
            "c.avhdx",
            vhdx { b in
                Mutations.putLE32(&b, 0xFFFF_FFFF, at: regionTable + 8); fixRegionTable(&b)
            },
            .error(.malformed, "VHDX region table 1")
        )
        add(
            "metadata region on top of the BAT",
            "c.avhdx",
            vhdx { b in
                Mutations.putLE64(&b, 3 << 20, at: regionTable + 16 + 32 + 16); fixRegionTable(&b)
            },
            .error(.malformed, "VHDX region table 1")
        )
        add(
            "region offset not 1 MiB aligned",
            "c.avhdx",
            vhdx { b in
                Mutations.putLE64(&b, (2 << 20) + 4096, at: regionTable + 16 + 32 + 16); fixRegionTable(&b)
            },
            .error(.malformed, "region table entry 1")
        )
        add(
            "region past the end of the file",
            "c.avhdx",
            vhdx { b in
                Mutations.putLE64(&b, 1 << 40, at: regionTable + 16 + 16); fixRegionTable(&b)
            },
            .error(.malformed, "region table entry 0")
        )
        add(
            "unknown required region",
            "c.avhdx",
            vhdx { b in
                b[regionTable + 16] ^= 0xFF; fixRegionTable(&b)
            },
            .error(.unsupportedFormat, "region table entry 0")
        )
        // VHDX: metadata.
        add(
            "metadata entry count 0xFFFF",
            "c.avhdx",
            vhdx { Mutations.putLE16(&$0, 0xFFFF, at: metadata + 10) },
            .error(.malformed, "VHDX metadata table")
        )
        add("metadata signature wrong", "c.avhdx", vhdx { $0[metadata] = 0 }, .error(.malformed, "VHDX metadata table"))
        add(
            "metadata item longer than 1 MiB",
            "c.avhdx",
            vhdx { Mutations.putLE32(&$0, 2 << 20, at: metadata + 32 + 20) },
            .error(.malformed, "metadata entry 0")
        )
        add(
            "metadata items overlap",
            "c.avhdx",
            vhdx { Mutations.putLE32(&$0, 0x1_0000, at: metadata + 32 + 32 + 16) },
            .error(.malformed, "VHDX metadata table")
        )
        add(
            "unknown metadata item with IsRequired",
            "c.avhdx",
            vhdx { $0[metadata + 32 + 2 * 32] ^= 0xFF },
            .error(.unsupportedFormat, "VHDX metadata")
        )
        add(
            "required item missing",
            "c.avhdx",
            vhdx { b in
                b[metadata + 32 + 2 * 32] ^= 0xFF; Mutations.putLE32(&b, 0, at: metadata + 32 + 2 * 32 + 24)
            },
            .error(.malformed, "VHDX metadata table")
        )
        add(
            "block size not a power of two",
            "c.avhdx",
            vhdx { Mutations.putLE32(&$0, 3 << 20, at: fileParameters) },
            .error(.malformed, "File Parameters")
        )
        add(
            "logical sector size 1000",
            "c.avhdx",
            vhdx { Mutations.putLE32(&$0, 1000, at: logicalSector) },
            .error(.malformed, "Logical Sector Size")
        )
        add(
            "virtual size over 64 TiB",
            "c.avhdx",
            vhdx { Mutations.putLE64(&$0, 65 << 40, at: virtualDiskSize) },
            .error(.malformed, "Virtual Disk Size")
        )
        add(
            "HasParent clear with a locator present",
            "c.avhdx",
            vhdx { Mutations.putLE32(&$0, 0, at: fileParameters + 4) },
            .parses(.dynamic)
        )
        // VHDX: parent locator.
        add(
            "locator type GUID altered",
            "c.avhdx",
            vhdx { $0[locator] ^= 0xFF },
            .error(.malformed, "VHDX parent locator")
        )
        add(
            "locator value offset 0x7FFFFFFF",
            "c.avhdx",
            vhdx { Mutations.putLE32(&$0, 0x7FFF_FFFF, at: locator + 20 + 4) },
            .error(.malformed, "parent locator entry 0")
        )
        add(
            "locator entry count past the item",
            "c.avhdx",
            vhdx { Mutations.putLE16(&$0, 0xFFFF, at: locator + 18) },
            .error(.malformed, "VHDX parent locator")
        )
        add(
            "no parent_linkage",
            "c.avhdx",
            vhdx { replaceUTF16(&$0, "parent_linkage", Array("parent_linkagX".utf16)) },
            .error(.malformed, "VHDX parent locator")
        )
        add(
            "parent_linkage not a GUID",
            "c.avhdx",
            vhdx { replaceUTF16(&$0, "{", Array("(".utf16)) },
            .error(.malformed, "VHDX parent locator")
        )
        add(
            "relative_path contains NUL",
            "c.avhdx",
            vhdx { replaceUTF16(&$0, "base.vhdx", [0x62, 0x61, 0, 0x65, 0x2E, 0x76, 0x68, 0x64, 0x78]) },
            .error(.malformed, "parent locator entry")
        )
        add(
            "relative_path starts with a lone surrogate",
            "c.avhdx",
            vhdx { replaceUTF16(&$0, "base.vhdx", [0xD800] + Array("ase.vhdx".utf16)) },
            .error(.malformed, "parent locator entry")
        )
        add(
            "duplicate relative_path keys",
            "c.avhdx",
            SampleImages.vhdxChild(
                parent: VHDXWriter.Parent(
                    dataWriteGuid: SampleImages.parentGuid,
                    relativePath: "base.vhdx",
                    extraEntries: [("relative_path", "other.vhdx")]
                )
            ),
            .error(.malformed, "parent locator entry 2")
        )
        add(
            "no path key at all",
            "c.avhdx",
            SampleImages.vhdxChild(
                parent: VHDXWriter.Parent(dataWriteGuid: SampleImages.parentGuid, relativePath: nil)
            ),
            .error(.malformed, "VHDX parent locator")
        )
        // VHDX: log.
        add(
            "LogGuid set, log empty",
            "c.avhdx",
            vhdx { vhdxLogEntry(&$0, logGuid: otherGuid, validEntry: false) },
            .warning("LogGuid is set")
        )
        add(
            "valid log entry present",
            "c.avhdx",
            vhdx { vhdxLogEntry(&$0, logGuid: otherGuid, validEntry: true) },
            .needsReplay
        )
        add(
            "log version 1",
            "c.avhdx",
            vhdx { b in
                vhdxLogEntry(&b, logGuid: otherGuid, validEntry: false);
                for h in [header1, header2] { Mutations.putLE16(&b, 1, at: h + 64) }; fixHeaders(&b)
            },
            .error(.unsupportedFormat, "VHDX log")
        )
        // VHD.
        let vhdEnd = SampleImages.vhdChild().count - 512
        add(
            "VHD footer checksum broken uses the copy",
            "c.avhd",
            vhd { $0[vhdEnd + 70] ^= 1 },
            .warning("footer at the end is damaged")
        )
        add("VHD footer copy checksum broken", "c.avhd", vhd { $0[70] ^= 1 }, .warning("copy at offset 0 is damaged"))
        add(
            "VHD both footers damaged",
            "c.avhd",
            vhd {
                $0[vhdEnd] = 0; $0[0] = 0
            },
            .error(.malformed, "VHD footer")
        )
        add(
            "VHD dynamic header checksum broken",
            "c.avhd",
            vhd { $0[512 + 100] ^= 1 },
            .error(.malformed, "VHD dynamic header")
        )
        add(
            "VHD dynamic cookie not cxsparse",
            "c.avhd",
            vhd { b in
                b[512] = 0; Mutations.fixVHDChecksum(&b, at: 512, length: 1024, field: 36)
            },
            .error(.malformed, "VHD dynamic header")
        )
        add(
            "VHD truncated to 1000 bytes",
            "c.avhd",
            Array(SampleImages.vhdChild().prefix(1000)),
            .error(.malformed, "VHD")
        )
        add(
            "VHD disk type 5",
            "c.avhd",
            vhd { b in
                for at in [0, vhdEnd] {
                    Mutations.putBE32(&b, 5, at: at + 60); Mutations.fixVHDChecksum(&b, at: at, length: 512, field: 64)
                }
            },
            .error(.unsupportedFormat, "VHD footer")
        )
        add(
            "VHD locator offset 0x7FFFFFFFFFFF",
            "c.avhd",
            vhd { b in
                Mutations.putBE64(&b, 0x7FFF_FFFF_FFFF, at: 512 + 576 + 16);
                Mutations.fixVHDChecksum(&b, at: 512, length: 1024, field: 36)
            },
            .error(.malformed, "VHD parent locator 0")
        )
        add(
            "VHD block size 0",
            "c.avhd",
            vhd { b in
                Mutations.putBE32(&b, 0, at: 512 + 32); Mutations.fixVHDChecksum(&b, at: 512, length: 1024, field: 36)
            },
            .error(.malformed, "VHD dynamic header")
        )
        add(
            "VHD parent name starts with a lone surrogate",
            "c.avhd",
            vhd { b in
                b[512 + 64] = 0xD8; b[512 + 65] = 0x00; Mutations.fixVHDChecksum(&b, at: 512, length: 1024, field: 36)
            },
            .parses(.differencing)
        )
        // Copies cut short (issue 26): a table that places a present block past the end of the file.
        add(
            "VHDX BAT places a block past the end of the file",
            "c.avhdx",
            vhdx { Mutations.putLE64(&$0, UInt64(4 << 20) | 6, at: 3 << 20) },
            .error(.malformed, "VHDX BAT")
        )
        add(
            "VHDX BAT places a block in the file's first MiB",
            "c.avhdx",
            vhdx { Mutations.putLE64(&$0, 6, at: 3 << 20) },
            .error(.malformed, "VHDX BAT")
        )
        add(
            "VHDX BAT block partially present past the end",
            "c.avhdx",
            vhdx { Mutations.putLE64(&$0, UInt64(8 << 20) | 7, at: 3 << 20) },
            .error(.malformed, "VHDX BAT")
        )
        add(
            "VHDX BAT block not present at any offset is fine",
            "c.avhdx",
            vhdx { Mutations.putLE64(&$0, UInt64(8 << 20), at: 3 << 20) },
            .parses(.differencing)
        )
        add(
            "VHD table places a block past the end of the file",
            "c.avhd",
            vhd { Mutations.putBE32(&$0, 100, at: 1536) },
            .error(.malformed, "VHD block allocation table")
        )
        // qcow2.
        add("qcow2 magic wrong", "c.qcow2", qcow2 { $0[0] = 0 }, .error(.malformed, "qcow2 header"))
        add(
            "qcow2 version 1",
            "c.qcow2",
            qcow2 { Mutations.putBE32(&$0, 1, at: 4) },
            .error(.unsupportedFormat, "qcow2 header")
        )
        add(
            "qcow2 backing name longer than 1023",
            "c.qcow2",
            qcow2 { Mutations.putBE32(&$0, 4096, at: 16) },
            .error(.malformed, "qcow2 header")
        )
        add(
            "qcow2 backing name past the end",
            "c.qcow2",
            qcow2 { Mutations.putBE64(&$0, 1 << 40, at: 8) },
            .error(.malformed, "qcow2 backing file name")
        )
        add(
            "qcow2 unknown incompatible feature",
            "c.qcow2",
            qcow2 { $0[79] = 0x80 },
            .error(.unsupportedFormat, "qcow2 header")
        )
        add("qcow2 marked corrupt", "c.qcow2", qcow2 { $0[79] = 0x02 }, .error(.malformed, "qcow2 header"))
        add(
            "qcow2 cluster_bits 40",
            "c.qcow2",
            qcow2 { Mutations.putBE32(&$0, 40, at: 20) },
            .error(.malformed, "qcow2 header")
        )
        add(
            "qcow2 extension past the first cluster",
            "c.qcow2",
            qcow2 { Mutations.putBE32(&$0, 0x10_0000, at: 112 + 4) },
            .error(.malformed, "qcow2 header extension")
        )
        // Other formats and names.
        add(
            "VMDK is recognised and refused",
            "d.vmdk",
            Array("KDMV".utf8) + [UInt8](repeating: 0, count: 1020),
            .error(.unsupportedFormat, "file signature")
        )
        add("empty .vhdx", "e.vhdx", [], .error(.malformed, "VHDX file type identifier"))
        return list
    }

    /// Every prefix that ends at a structure boundary of each valid sample, plus one byte either side.
    static var truncations: [Case] {
        var list: [Case] = []
        let samples: [(String, [UInt8], [Int])] = [
            (
                "c.avhdx", SampleImages.vhdxChild(),
                [
                    0, 8, 520, header1, header1 + 4096, header2, header2 + 4096, regionTable, regionTable + 0x1_0000,
                    0x4_0000, 0x5_0000, 1 << 20, 2 << 20, metadata + 32, metadata + 0x1_0000, fileParameters + 8,
                    locator, locator + 64, 3 << 20,
                ]
            ),
            (
                "c.avhd", SampleImages.vhdChild(),
                [0, 511, 512, 1536, 2048, 2560, 3072, SampleImages.vhdChild().count - 512]
            ),
            ("c.qcow2", SampleImages.qcow2(), [0, 4, 72, 104, 112, 120, 128, 136]),
        ]
        for (name, bytes, boundaries) in samples {
            for boundary in boundaries {
                for length in [boundary - 1, boundary, boundary + 1] where length >= 0 && length < bytes.count {
                    list.append(
                        Case(
                            name: "\(name) truncated to \(length)",
                            fileName: name,
                            bytes: Array(bytes.prefix(length)),
                            expectation: .error(.malformed, "")
                        )
                    )
                }
            }
        }
        return list
    }
}
