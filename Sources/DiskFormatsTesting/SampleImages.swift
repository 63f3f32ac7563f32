import DiskFormats

/// Valid disk images built in memory from fixed GUIDs: the seeds the malformed corpus and the
/// fuzzer mutate.
public enum SampleImages {
    public static let parentGuid = GUID(bytes: (0..<16).map { UInt8($0 + 0x10) })
    public static let childGuid = GUID(bytes: (0..<16).map { UInt8($0 + 0x40) })

    public static func vhdxBase(dataWriteGuid: GUID = parentGuid, virtualSize: UInt64 = 64 << 20) -> [UInt8] {
        VHDXWriter.image(
            VHDXWriter.Options(
                virtualSize: virtualSize,
                blockSize: 1 << 20,
                fileWriteGuid: GUID(bytes: [UInt8](repeating: 0xA1, count: 16)),
                dataWriteGuid: dataWriteGuid,
                virtualDiskID: GUID(bytes: [UInt8](repeating: 0xB2, count: 16))
            )
        ).flattened()
    }

    public static func vhdxChild(
        parent: VHDXWriter.Parent = VHDXWriter.Parent(
            dataWriteGuid: parentGuid,
            relativePath: "base.vhdx",
            absoluteWin32Path: "\\\\?\\C:\\ClusterStorage\\Volume1\\vm\\base.vhdx"
        ),
        dataWriteGuid: GUID = childGuid
    ) -> [UInt8] {
        VHDXWriter.image(
            VHDXWriter.Options(
                virtualSize: 64 << 20,
                blockSize: 1 << 20,
                fileWriteGuid: GUID(bytes: [UInt8](repeating: 0xC3, count: 16)),
                dataWriteGuid: dataWriteGuid,
                virtualDiskID: GUID(bytes: [UInt8](repeating: 0xB2, count: 16)),
                parent: parent
            )
        ).flattened()
    }

    public static func vhdBase(uniqueID: GUID = parentGuid) -> [UInt8] {
        VHDWriter.image(VHDWriter.Options(virtualSize: 64 << 20, uniqueID: uniqueID, timestamp: 846_000_000))
            .flattened()
    }

    public static func vhdChild(
        parentName: String = "base.vhd",
        parentID: GUID = parentGuid,
        uniqueID: GUID = childGuid
    ) -> [UInt8] {
        VHDWriter.image(
            VHDWriter.Options(
                virtualSize: 64 << 20,
                uniqueID: uniqueID,
                timestamp: 846_000_000,
                parent: VHDWriter.Parent(
                    uniqueID: parentID,
                    timestamp: 846_000_000,
                    unicodeName: parentName,
                    relativePath: ".\\\(parentName)",
                    absolutePath: "C:\\ClusterStorage\\Volume1\\vm\\\(parentName)"
                )
            )
        ).flattened()
    }

    /// A qcow2 v3 header with a backing file and its format extension, as qemu-img lays it out
    /// (header 104 bytes, extensions, the name in the first cluster).
    public static func qcow2(backing: String? = "base.qcow2", version: UInt32 = 3) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 65_536 * 3)
        bytes.replaceSubrange(0..<4, with: [0x51, 0x46, 0x49, 0xFB])
        func be32(_ value: UInt32, _ at: Int) {
            for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * (3 - i))) }
        }
        func be64(_ value: UInt64, _ at: Int) {
            for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * (7 - i))) }
        }
        be32(version, 4)
        be32(16, 20)  // 64 KiB clusters
        be64(64 << 20, 24)
        var position = 72
        if version == 3 {
            be32(4, 96)  // refcount order
            be32(112, 100)  // header length
            position = 112
        }
        if let backing {
            let format = Array("qcow2".utf8)
            be32(0xE279_2ACA, position)
            be32(UInt32(format.count), position + 4)
            bytes.replaceSubrange((position + 8)..<(position + 8 + format.count), with: format)
            position += 8 + (format.count + 7) / 8 * 8
            position += 8  // end-of-extensions marker (type 0)
            let name = Array(backing.utf8)
            be64(UInt64(position), 8)
            be32(UInt32(name.count), 16)
            bytes.replaceSubrange(position..<(position + name.count), with: name)
        }
        return bytes
    }
}
