/// Writes valid, sparse dynamic and differencing VHD (AVHD) files: footer copy, dynamic header, an
/// all-unallocated BAT, the parent locators Hyper-V writes (W2ku and W2ru, data space in bytes as
/// Windows writes it), and the footer.
public enum VHDWriter {
    public struct Options: Sendable {
        public var virtualSize: UInt64
        public var uniqueID: GUID
        /// Seconds since 2000-01-01T00:00:00Z, as VHD stores time.
        public var timestamp: UInt32
        public var blockSize: UInt32
        public var parent: Parent?
        public var creatorApplication: String

        public init(
            virtualSize: UInt64,
            uniqueID: GUID,
            timestamp: UInt32,
            blockSize: UInt32 = 2 << 20,
            parent: Parent? = nil,
            creatorApplication: String = "ckpr"
        ) {
            self.virtualSize = virtualSize
            self.uniqueID = uniqueID
            self.timestamp = timestamp
            self.blockSize = blockSize
            self.parent = parent
            self.creatorApplication = creatorApplication
        }
    }

    public struct Parent: Sendable {
        /// The parent footer's unique id.
        public var uniqueID: GUID
        /// The parent's modification time, seconds since 2000.
        public var timestamp: UInt32
        /// The dynamic header's Parent Unicode name (Hyper-V writes the file name or full path).
        public var unicodeName: String
        /// W2ru: relative to the child's directory, such as `.\base.vhd`.
        public var relativePath: String?
        /// W2ku: absolute Windows path.
        public var absolutePath: String?

        public init(
            uniqueID: GUID,
            timestamp: UInt32,
            unicodeName: String,
            relativePath: String?,
            absolutePath: String?
        ) {
            self.uniqueID = uniqueID
            self.timestamp = timestamp
            self.unicodeName = unicodeName
            self.relativePath = relativePath
            self.absolutePath = absolutePath
        }
    }

    public static func image(_ options: Options) -> SparseImage {
        let entries = UInt32((options.virtualSize + UInt64(options.blockSize) - 1) / UInt64(options.blockSize))
        let batOffset: UInt64 = 1536
        let batLength = (UInt64(entries) * 4 + 511) / 512 * 512
        var locators: [(code: UInt32, data: [UInt8])] = []
        if let parent = options.parent {
            if let absolute = parent.absolutePath {
                locators.append((VHDReader.w2ku, UTF16Text.encode(absolute, .little)))
            }
            if let relative = parent.relativePath {
                locators.append((VHDReader.w2ru, UTF16Text.encode(relative, .little)))
            }
        }
        var image = SparseImage(length: 0)
        image.write([UInt8](repeating: 0xFF, count: Int(batLength)), at: batOffset)

        var header = [UInt8](repeating: 0, count: 1024)
        header.putASCII("cxsparse", at: 0)
        header.putBE64(.max, at: 8)
        header.putBE64(batOffset, at: 16)
        header.putBE32(0x0001_0000, at: 24)
        header.putBE32(entries, at: 28)
        header.putBE32(options.blockSize, at: 32)
        var dataOffset = batOffset + batLength
        if let parent = options.parent {
            header.putBytes(parent.uniqueID.bytes, at: 40)
            header.putBE32(parent.timestamp, at: 56)
            header.putBytes(UTF16Text.encode(String(parent.unicodeName.prefix(255)), .big), at: 64)
            for (index, locator) in locators.enumerated() {
                let space = (UInt64(locator.data.count) + 511) / 512 * 512
                let at = 576 + index * 24
                header.putBE32(locator.code, at: at)
                header.putBE32(UInt32(space), at: at + 4)
                header.putBE32(UInt32(locator.data.count), at: at + 8)
                header.putBE64(dataOffset, at: at + 16)
                image.write(locator.data, at: dataOffset)
                dataOffset += space
            }
        }
        header.putBE32(VHDChecksum.compute(header, skipping: 36), at: 36)
        image.write(header, at: 512)

        let footer = footer(options)
        image.write(footer, at: 0)
        image.write(footer, at: dataOffset)
        return image
    }

    static func footer(_ options: Options) -> [UInt8] {
        var footer = [UInt8](repeating: 0, count: 512)
        footer.putASCII("conectix", at: 0)
        footer.putBE32(2, at: 8)
        footer.putBE32(0x0001_0000, at: 12)
        footer.putBE64(512, at: 16)
        footer.putBE32(options.timestamp, at: 24)
        footer.putASCII(String(options.creatorApplication.prefix(4)).padding(toLength: 4), at: 28)
        footer.putBE32(0x000A_0000, at: 32)
        footer.putASCII("Wi2k", at: 36)
        footer.putBE64(options.virtualSize, at: 40)
        footer.putBE64(options.virtualSize, at: 48)
        footer.putBE32(geometry(options.virtualSize), at: 56)
        footer.putBE32(options.parent == nil ? 3 : 4, at: 60)
        footer.putBytes(options.uniqueID.bytes, at: 68)
        footer.putBE32(VHDChecksum.compute(footer, skipping: 64), at: 64)
        return footer
    }

    /// The CHS geometry algorithm of the VHD specification, packed as cylinders (16), heads (8),
    /// sectors per track (8).
    static func geometry(_ size: UInt64) -> UInt32 {
        var totalSectors = size / 512
        if totalSectors > 65535 * 16 * 255 { totalSectors = 65535 * 16 * 255 }
        var sectorsPerTrack: UInt64
        var heads: UInt64
        var cylinderTimesHeads: UInt64
        if totalSectors >= 65535 * 16 * 63 {
            sectorsPerTrack = 255
            heads = 16
            cylinderTimesHeads = totalSectors / sectorsPerTrack
        } else {
            sectorsPerTrack = 17
            cylinderTimesHeads = totalSectors / sectorsPerTrack
            heads = max(4, (cylinderTimesHeads + 1023) / 1024)
            if cylinderTimesHeads >= heads * 1024 || heads > 16 {
                sectorsPerTrack = 31
                heads = 16
                cylinderTimesHeads = totalSectors / sectorsPerTrack
            }
            if cylinderTimesHeads >= heads * 1024 {
                sectorsPerTrack = 63
                heads = 16
                cylinderTimesHeads = totalSectors / sectorsPerTrack
            }
        }
        let cylinders = min(65535, cylinderTimesHeads / heads)
        return UInt32(cylinders) << 16 | UInt32(heads) << 8 | UInt32(sectorsPerTrack)
    }
}

extension String {
    fileprivate func padding(toLength length: Int) -> String {
        count >= length ? String(prefix(length)) : self + String(repeating: " ", count: length - count)
    }
}
