import ChainModel

/// Recognises a disk file by its content and reads it with the right parser.
///
/// The file name only decides how to report content that matches no format: a `.vhdx` without `vhdxfile` is a damaged
/// VHDX, an `.img` without a signature is raw.
public enum DiskImageReader {
    /// Reads `source`; `name` is the file's name or path, used for the extension only.
    public static func read(_ source: some ByteSource, name: String) throws(DiskFormatError) -> DiskImageInfo {
        switch try detect(source, name: name) {
        case .vhdx: try VHDXReader.read(source)
        case .vhd: try VHDReader.read(source)
        case .qcow2: try QCOW2Reader.read(source)
        case .raw: DiskImageInfo(format: .raw, diskType: .fixed, virtualSize: source.size)
        }
    }

    /// Reads `source` as `format`, without probing: how a parent named by a child is read.
    public static func read(_ source: some ByteSource, as format: DiskFormat) throws(DiskFormatError) -> DiskImageInfo {
        switch format {
        case .vhdx: try VHDXReader.read(source)
        case .vhd: try VHDReader.read(source)
        case .qcow2: try QCOW2Reader.read(source)
        case .raw: DiskImageInfo(format: .raw, diskType: .fixed, virtualSize: source.size)
        }
    }

    /// The format the content says, or the one the extension promises.
    public static func detect(_ source: some ByteSource, name: String) throws(DiskFormatError) -> DiskFormat {
        let head = source.size >= 8 ? try source.read(at: 0, count: 8) : []
        if head == Array("vhdxfile".utf8) { return .vhdx }
        if head.count == 8, head.prefix(4).elementsEqual([0x51, 0x46, 0x49, 0xFB]) { return .qcow2 }
        if head == Array("conectix".utf8) { return .vhd }
        if source.size >= 512, try source.read(at: source.size - 512, count: 8) == Array("conectix".utf8) {
            return .vhd
        }
        if let other = unsupportedSignature(head) {
            throw DiskFormatError(
                .unsupportedFormat,
                structure: "file signature",
                offset: 0,
                "\(other) images are not supported"
            )
        }
        switch Self.extensionFormat(name) {
        case .vhdx?: throw .malformed("VHDX file type identifier", at: 0, "signature is not 'vhdxfile'")
        case .vhd?:
            throw .malformed("VHD footer", at: source.size >= 512 ? source.size - 512 : 0, "no 'conectix' footer")
        case .qcow2?: throw .malformed("qcow2 header", at: 0, "magic is not 'QFI\\xfb'")
        default: return .raw
        }
    }

    /// The format a file name's extension promises, if any.
    public static func extensionFormat(_ name: String) -> DiskFormat? {
        let lower = name.lowercased()
        if lower.hasSuffix(".vhdx") || lower.hasSuffix(".avhdx") { return .vhdx }
        if lower.hasSuffix(".vhd") || lower.hasSuffix(".avhd") { return .vhd }
        if lower.hasSuffix(".qcow2") { return .qcow2 }
        return nil
    }

    private static func unsupportedSignature(_ head: [UInt8]) -> String? {
        if head.starts(with: Array("KDMV".utf8)) { return "VMDK" }
        if head.starts(with: Array("# Disk D".utf8)) { return "VMDK descriptor" }
        if head.starts(with: Array("<<< ".utf8)) { return "VDI" }
        if head.starts(with: [0x51, 0x45, 0x44, 0x00]) { return "QED" }
        return nil
    }
}
