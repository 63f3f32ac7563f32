/// UTF-16 strings as disk formats store them: VHDX locators and VHD locator data little-endian, the
/// VHD parent name big-endian.
enum UTF16Text {
    enum Endianness {
        case little
        case big
    }

    static func codeUnits(_ bytes: some Collection<UInt8>, _ endianness: Endianness) -> [UInt16] {
        let array = Array(bytes)
        return stride(from: 0, to: array.count - 1, by: 2).map { index in
            switch endianness {
            case .little: UInt16(array[index]) | UInt16(array[index + 1]) << 8
            case .big: UInt16(array[index]) << 8 | UInt16(array[index + 1])
            }
        }
    }

    /// Strict decoding: `nil` for an odd byte count, an unpaired surrogate or an embedded NUL.
    static func strict(_ bytes: some Collection<UInt8>, _ endianness: Endianness) -> String? {
        guard bytes.count % 2 == 0 else { return nil }
        if let ascii = asciiFastPath(bytes, endianness) { return ascii }
        let units = codeUnits(bytes, endianness)
        guard !units.contains(0) else { return nil }
        return String(validating: units, as: UTF16.self)
    }

    /// Lenient decoding for fields real files fill sloppily: stops at the first NUL, replaces
    /// unpaired surrogates with U+FFFD.
    static func lenient(_ bytes: some Collection<UInt8>, _ endianness: Endianness) -> String {
        if let ascii = asciiFastPath(bytes, endianness, stopAtNUL: true) { return ascii }
        let units = codeUnits(bytes, endianness)
        let end = units.firstIndex(of: 0) ?? units.count
        return String(decoding: units[..<end], as: UTF16.self)
    }

    /// Most locator text is ASCII: decode it without building code units.
    ///
    /// `nil` when not plain ASCII.
    private static func asciiFastPath(
        _ bytes: some Collection<UInt8>,
        _ endianness: Endianness,
        stopAtNUL: Bool = false
    ) -> String? {
        if let decoded = bytes.withContiguousStorageIfAvailable({
            ascii(UnsafeRawBufferPointer($0), endianness, stopAtNUL: stopAtNUL)
        }) {
            return decoded
        }
        return Array(bytes).withUnsafeBytes { ascii($0, endianness, stopAtNUL: stopAtNUL) }
    }

    /// Two passes over the raw bytes: check that every unit is ASCII (up to a NUL if asked), then write the string.
    private static func ascii(_ raw: UnsafeRawBufferPointer, _ endianness: Endianness, stopAtNUL: Bool) -> String? {
        let (lowByte, highByte) = endianness == .little ? (0, 1) : (1, 0)
        let units = raw.count / 2
        var length = 0
        while length < units {
            let low = raw[2 * length + lowByte]
            let high = raw[2 * length + highByte]
            if high == 0 && low == 0 && stopAtNUL { break }
            guard high == 0, low != 0, low < 0x80 else { return nil }
            length += 1
        }
        return String(unsafeUninitializedCapacity: length) { out in
            for index in 0..<length { out[index] = raw[2 * index + lowByte] }
            return length
        }
    }

    static func encode(_ text: String, _ endianness: Endianness) -> [UInt8] {
        text.utf16.flatMap { unit -> [UInt8] in
            switch endianness {
            case .little: [UInt8(unit & 0xFF), UInt8(unit >> 8)]
            case .big: [UInt8(unit >> 8), UInt8(unit & 0xFF)]
            }
        }
    }
}
