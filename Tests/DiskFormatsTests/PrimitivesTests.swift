import DiskFormats
import DiskFormatsTesting
import Testing

@Suite struct PrimitivesTests {
    @Test func crc32cMatchesTheCheckValueAndTheReference() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.reference(Array("123456789".utf8)) == 0xE306_9283)
        var generator = SplitMix64(seed: 7)
        for length in [0, 1, 7, 8, 63, 64, 65, 127, 128, 129, 511, 512, 513, 4096, 65_536, 70_001] {
            // Mostly zeros with a few set bytes: exercises the zero-run shortcut on both sides of data.
            var bytes = [UInt8](repeating: 0, count: length)
            for _ in 0..<(length / 1000 + 1) where length > 0 {
                bytes[Int.random(in: 0..<length, using: &generator)] = UInt8.random(in: 1...255, using: &generator)
            }
            #expect(CRC32C.checksum(bytes) == CRC32C.reference(bytes), "length \(length)")
            let random = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(CRC32C.checksum(random) == CRC32C.reference(random), "random length \(length)")
        }
    }

    @Test func crc32cSkipsZeroRunsAtEveryAlignment() {
        // A set byte at each position around the 64-byte blocks the zero-run shortcut works in, and the
        // structure form that counts the checksum field as zero.
        for position in [0, 1, 62, 63, 64, 65, 127, 128, 4031, 4095] {
            var bytes = [UInt8](repeating: 0, count: 4096)
            bytes[position] = 0x5A
            #expect(CRC32C.checksum(bytes) == CRC32C.reference(bytes), "set byte at \(position)")
            var withField = bytes
            withField.replaceSubrange(4..<8, with: [0xDE, 0xAD, 0xBE, 0xEF])
            var zeroedField = withField
            zeroedField.replaceSubrange(4..<8, with: [0, 0, 0, 0])
            #expect(CRC32C.checksum(withField, zeroingFieldAt: 4) == CRC32C.reference(zeroedField))
        }
    }

    @Test func guidTextFormsMatchTheTools() throws {
        // 7-Zip prints the raw bytes ac32e002f416974a80e6c965344050d8; vhdiinfo the mixed-endian text.
        let raw: [UInt8] = [
            0xAC, 0x32, 0xE0, 0x02, 0xF4, 0x16, 0x97, 0x4A, 0x80, 0xE6, 0xC9, 0x65, 0x34, 0x40, 0x50, 0xD8,
        ]
        let guid = GUID(bytes: raw)
        #expect(guid.mixedEndianText == "02e032ac-16f4-4a97-80e6-c965344050d8")
        #expect(guid.byteOrderText == "ac32e002-f416-974a-80e6-c965344050d8")
        #expect(GUID(mixedEndianText: "{02E032AC-16F4-4A97-80E6-C965344050D8}") == guid)
        #expect(GUID(byteOrderText: guid.byteOrderText) == guid)
        #expect(GUID(mixedEndianText: "{02e032ac-16f4-4a97-80e6-c965344050d}") == nil)
        #expect(GUID(mixedEndianText: "02e032ac_16f4-4a97-80e6-c965344050d8") == nil)
        #expect(GUID(mixedEndianText: "02e032ac-16f4-4a97-80e6-c965344050d8") == guid)
        #expect(GUID(mixedEndianText: "{02e032ac-16f4-4a97-80e6-c965344050d8") == nil)
        #expect(GUID(mixedEndianText: "02e032ac-16f4-4a97-80e6-c965344050dg") == nil)
        // Multi-byte characters never count as hex digits, even where the byte length would fit.
        #expect(GUID(mixedEndianText: "02e032ac-16f4-4a97-80e6-c965344050é") == nil)
        #expect(GUID(mixedEndianText: "") == nil)
    }

    @Test func lexicalPathsNeverClimbAboveTheRoot() {
        #expect(LocalPath.normalize("/a/b/../../../../etc/passwd") == "/etc/passwd")
        #expect(LocalPath.join("/mnt/csv1/vm", "../../x.vhdx") == "/mnt/x.vhdx")
        #expect(LocalPath.isInside("/mnt/csv1/vm/x", root: "/mnt/csv1"))
        #expect(!LocalPath.isInside("/mnt/csv10/x", root: "/mnt/csv1"))
        #expect(LocalPath.directory(of: "/x.vhdx") == "/")
    }

    @Test func pathMapTranslatesWindowsPrefixesCaseInsensitively() {
        let map = PathMap([
            PathMap.Entry(windowsPrefix: #"C:\ClusterStorage\Volume1"#, localDirectory: "/mnt/csv1"),
            PathMap.Entry(windowsPrefix: #"\\sofs\vms"#, localDirectory: "/mnt/sofs"),
            PathMap.Entry(
                windowsPrefix: #"\\?\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}"#,
                localDirectory: "/mnt/v"
            ),
        ])
        #expect(map.localPath(for: #"\\?\c:\clusterstorage\volume1\web\disk.vhdx"#) == "/mnt/csv1/web/disk.vhdx")
        #expect(map.localPath(for: #"\\?\UNC\sofs\vms\a.vhdx"#) == "/mnt/sofs/a.vhdx")
        #expect(map.localPath(for: #"\\?\sofs\vms\a.vhdx"#) == "/mnt/sofs/a.vhdx")
        #expect(map.localPath(for: #"\\?\Volume{26A21BDA-A627-11D7-9931-806E6F6E6963}\p\b.vhdx"#) == "/mnt/v/p/b.vhdx")
        #expect(map.localPath(for: #"C:\ClusterStorage\Volume10\x.vhdx"#) == nil)
        #expect(map.localPath(for: #"C:\ClusterStorage\Volume1\..\..\etc\shadow"#) == nil)
        #expect(map.localPath(for: #"C:\ClusterStorage\Volume1\web\..\disk.vhdx"#) == "/mnt/csv1/disk.vhdx")
    }

    @Test func aDriveRootMapsLikeAnyOtherPrefix() {
        // Issue 26: `--path-map 'C:\=/mnt/c'` never matched (the root keeps its separator).
        for prefix in [#"C:\"#, "C:", "c:/"] {
            let map = PathMap([PathMap.Entry(windowsPrefix: prefix, localDirectory: "/mnt/c")])
            #expect(map.localPath(for: #"C:\VMs\web\disk.vhdx"#) == "/mnt/c/VMs/web/disk.vhdx", "\(prefix)")
            #expect(map.localPath(for: #"\\?\c:\base.vhdx"#) == "/mnt/c/base.vhdx", "\(prefix)")
            #expect(map.localPath(for: #"D:\VMs\disk.vhdx"#) == nil, "\(prefix)")
            #expect(map.localPath(for: #"C:\..\etc\shadow"#) == nil, "\(prefix)")
        }
        // A deeper entry still wins over the root.
        let both = PathMap([
            PathMap.Entry(windowsPrefix: #"C:\"#, localDirectory: "/mnt/c"),
            PathMap.Entry(windowsPrefix: #"C:\ClusterStorage\Volume1"#, localDirectory: "/mnt/csv1"),
        ])
        #expect(both.localPath(for: #"C:\ClusterStorage\Volume1\a.vhdx"#) == "/mnt/csv1/a.vhdx")
        #expect(both.localPath(for: #"C:\Other\a.vhdx"#) == "/mnt/c/Other/a.vhdx")
    }
}
