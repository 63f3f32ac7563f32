import ChainModel

/// Reads a qcow2 header (versions 2 and 3): virtual size, the backing file name and format, and an
/// external data file if the image has one (qemu docs/interop/qcow2.txt).
public enum QCOW2Reader {
    static let backingFormatExtension: UInt32 = 0xE279_2ACA
    static let externalDataFileExtension: UInt32 = 0x4441_5441
    /// Incompatible feature bits this reader understands: dirty, corrupt, external data file,
    /// compression type, extended L2.
    static let knownIncompatibleFeatures: UInt64 = 0b1_1111
    static let maxExtensions = 64

    public static func read(_ source: some ByteSource) throws(DiskFormatError) -> DiskImageInfo {
        let name = "qcow2 header"
        let head = try source.structure(name, at: 0, count: 72)
        var cursor = ByteCursor(head, structure: name, base: 0)
        guard head.prefix(4).elementsEqual([0x51, 0x46, 0x49, 0xFB]) else {
            throw .malformed(name, at: 0, "magic is not 'QFI\\xfb'")
        }
        let version = try cursor.be32(4)
        guard version == 2 || version == 3 else {
            throw .unsupported(name, at: 4, "qcow version \(version) (only 2 and 3 are read)")
        }
        let backingOffset = try cursor.be64(8)
        let backingSize = try cursor.be32(16)
        let clusterBits = try cursor.be32(20)
        let virtualSize = try cursor.be64(24)
        guard clusterBits >= 9, clusterBits <= 21 else {
            throw .malformed(name, at: 20, "cluster_bits \(clusterBits) is outside 9-21")
        }
        let clusterSize = UInt64(1) << UInt64(clusterBits)
        var warnings: [String] = []
        var headerLength: UInt64 = 72
        if version == 3 {
            let extended = try source.structure(name, at: 0, count: 104)
            cursor = ByteCursor(extended, structure: name, base: 0)
            let incompatible = try cursor.be64(72)
            if incompatible & ~knownIncompatibleFeatures != 0 {
                throw .unsupported(name, at: 72, "unknown incompatible features \(String(incompatible, radix: 16))")
            }
            if incompatible & 0b10 != 0 { throw .malformed(name, at: 72, "the image is marked corrupt") }
            if incompatible & 0b1 != 0 { warnings.append("the image is marked dirty (refcounts need a check)") }
            headerLength = UInt64(try cursor.be32(100))
            guard headerLength >= 104, headerLength % 8 == 0, headerLength < clusterSize else {
                throw .malformed(name, at: 100, "header_length \(headerLength) is invalid")
            }
        }

        var backingFormat: String?
        var externalData: String?
        var position = headerLength
        for _ in 0..<maxExtensions {
            let extensionHead = try source.structure("qcow2 header extension", at: position, count: 8)
            let headCursor = ByteCursor(extensionHead, structure: "qcow2 header extension", base: position)
            let type = try headCursor.be32(0)
            let length = UInt64(try headCursor.be32(4))
            if type == 0 { break }
            guard position + 8 + length <= clusterSize else {
                throw .malformed(
                    "qcow2 header extension",
                    at: position,
                    "extension of \(length) bytes runs past the first cluster"
                )
            }
            if type == backingFormatExtension || type == externalDataFileExtension {
                let data = try source.structure("qcow2 header extension", at: position + 8, count: Int(length))
                guard let text = String(validating: data, as: UTF8.self), !text.contains("\0") else {
                    throw .malformed("qcow2 header extension", at: position + 8, "name is not valid UTF-8")
                }
                if type == backingFormatExtension { backingFormat = text } else { externalData = text }
            }
            position += 8 + (length + 7) / 8 * 8
        }

        var parent: ParentReference?
        if backingOffset != 0 {
            guard backingSize > 0, backingSize <= 1023 else {
                throw .malformed(name, at: 16, "backing_file_size \(backingSize) is outside 1-1023")
            }
            let nameBytes = try source.structure("qcow2 backing file name", at: backingOffset, count: Int(backingSize))
            guard let backing = String(validating: nameBytes, as: UTF8.self), !backing.contains("\0") else {
                throw .malformed("qcow2 backing file name", at: backingOffset, "is not valid UTF-8 without NUL")
            }
            parent = ParentReference(backingFile: backing, backingFormat: backingFormat)
        }
        return DiskImageInfo(
            format: .qcow2,
            diskType: parent == nil ? .dynamic : .differencing,
            virtualSize: virtualSize,
            parent: parent,
            warnings: warnings,
            externalDataFile: externalData
        )
    }
}
