/// Fixed offsets, limits and well-known GUIDs of MS-VHDX.
enum VHDXLayout {
    static let mebibyte: UInt64 = 1 << 20
    static let fileIdentifierOffset: UInt64 = 0
    static let headerOffsets: [UInt64] = [0x1_0000, 0x2_0000]
    static let headerSize = 4096
    static let regionTableOffsets: [UInt64] = [0x3_0000, 0x4_0000]
    static let regionTableSize = 0x1_0000
    static let maxRegionEntries: UInt32 = 2047
    static let metadataTableSize = 0x1_0000
    static let maxMetadataEntries: UInt16 = 2047
    static let maxMetadataItemLength: UInt32 = 1 << 20
    static let maxVirtualSize: UInt64 = 64 << 40
    static let logSectorSize = 4096

    static let batRegion = known("2DC27766-F623-4200-9D64-115E9BFD4A08")
    static let metadataRegion = known("8B7CA206-4790-4B9A-B8FE-575F050F886E")

    static let fileParameters = known("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
    static let virtualDiskSize = known("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
    static let virtualDiskID = known("BECA12AB-B2E6-4523-93EF-C309E000C746")
    static let logicalSectorSize = known("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
    static let physicalSectorSize = known("CDA348C7-445D-4471-9CC9-E9885251C556")
    static let parentLocator = known("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
    static let vhdxParentLocatorType = known("B04AEFB7-D19E-4A81-B789-25B8E9445913")

    private static func known(_ text: String) -> GUID {
        guard let guid = GUID(mixedEndianText: text) else { preconditionFailure("bad constant \(text)") }
        return guid
    }

    static func name(ofItem id: GUID) -> String {
        switch id {
        case fileParameters: "File Parameters"
        case virtualDiskSize: "Virtual Disk Size"
        case virtualDiskID: "Virtual Disk ID"
        case logicalSectorSize: "Logical Sector Size"
        case physicalSectorSize: "Physical Sector Size"
        case parentLocator: "Parent Locator"
        default: "metadata item {\(id.mixedEndianText)}"
        }
    }
}
