/// A GUID as its 16 bytes on disk.
///
/// VHDX stores GUIDs in Microsoft's mixed-endian form (Data1, Data2 and Data3 little-endian); VHD
/// stores its unique ids as 16 plain bytes. The two are printed differently, as `vhdiinfo` prints
/// them: `mixedEndianText` for VHDX, `byteOrderText` for VHD.
public struct GUID: Hashable, Sendable, CustomStringConvertible {
    /// Bytes 0-7 and 8-15, each packed little-endian: two words, no heap storage, cheap to compare.
    private let first: UInt64
    private let second: UInt64

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 16, "a GUID is 16 bytes")
        self.init(bytes[...])
    }

    /// Bytes 0-7 and 8-15, each read little-endian.
    init(first: UInt64, second: UInt64) {
        self.first = first
        self.second = second
    }

    init(_ bytes: ArraySlice<UInt8>) {
        var first: UInt64 = 0
        var second: UInt64 = 0
        let start = bytes.startIndex
        for index in 0..<8 {
            first |= UInt64(bytes[start + index]) << (8 * UInt64(index))
            second |= UInt64(bytes[start + 8 + index]) << (8 * UInt64(index))
        }
        self.first = first
        self.second = second
    }

    /// The 16 bytes as stored on disk.
    public var bytes: [UInt8] {
        (0..<16).map { index in
            UInt8(truncatingIfNeeded: (index < 8 ? first : second) >> (8 * UInt64(index % 8)))
        }
    }

    public static let zero = GUID(bytes: [UInt8](repeating: 0, count: 16))

    public var isZero: Bool { first == 0 && second == 0 }

    /// A random version-4 GUID from the caller's generator (the pure core has no randomness of its own).
    public static func random<R: RandomNumberGenerator>(using generator: inout R) -> GUID {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        // Version 4 and the RFC 4122 variant, in the mixed-endian layout Windows uses.
        bytes[7] = (bytes[7] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return GUID(bytes: bytes)
    }

    /// `02e032ac-16f4-4a97-80e6-c965344050d8` for the on-disk bytes `ac 32 e0 02 f4 16 97 4a 80 e6 …`.
    public var mixedEndianText: String {
        let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15]
        let stored = bytes
        return Self.dashed(order.map { stored[$0] })
    }

    /// The 16 bytes in stored order, dashed 8-4-4-4-12.
    public var byteOrderText: String { Self.dashed(bytes) }

    public var description: String { mixedEndianText }

    /// Parses `{83ed0ec3-24c8-49a6-a959-5e4bf1288bfb}` (braces optional, any case) into mixed-endian bytes.
    public init?(mixedEndianText text: String) {
        var text = text
        guard let guid = text.withUTF8({ Self.parseDashed($0, mixedEndian: true) }) else { return nil }
        self = guid
    }

    /// Parses dashed text into bytes in the order written.
    public init?(byteOrderText text: String) {
        var text = text
        guard let guid = text.withUTF8({ Self.parseDashed($0, mixedEndian: false) }) else { return nil }
        self = guid
    }

    private static func dashed(_ ordered: [UInt8]) -> String {
        var text = ""
        text.reserveCapacity(36)
        let digits = Array("0123456789abcdef")
        for (index, byte) in ordered.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append("-") }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return text
    }

    /// Parses mixed-endian text stored as UTF-16LE (a VHDX parent locator's `parent_linkage`) without building a
    /// string; `nil` unless every character is ASCII and the text is a GUID.
    init?(mixedEndianUTF16LE bytes: ArraySlice<UInt8>) {
        guard bytes.count == 72 || bytes.count == 76 else { return nil }
        let length = bytes.count / 2
        let parsed = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length) { characters -> GUID? in
            let start = bytes.startIndex
            for index in 0..<length {
                guard bytes[start + 2 * index + 1] == 0 else { return nil }
                characters[index] = bytes[start + 2 * index]
            }
            return Self.parseDashed(UnsafeBufferPointer(characters), mixedEndian: true)
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Reads 36 ASCII characters (38 with braces) in place; any other character fails the hex or dash checks.
    ///
    /// With `mixedEndian`, Data1, Data2 and Data3 are turned to their stored little-endian form.
    private static func parseDashed(_ utf8: UnsafeBufferPointer<UInt8>, mixedEndian: Bool) -> GUID? {
        var characters = utf8
        if characters.count == 38, characters.first == UInt8(ascii: "{"), characters.last == UInt8(ascii: "}") {
            characters = UnsafeBufferPointer(rebasing: characters[1..<37])
        }
        guard characters.count == 36 else { return nil }
        // Where each written byte goes on disk: the mixed-endian order reverses the first three groups.
        let mixedOrder: (Int) -> Int = { index in
            switch index {
            case 0...3: 3 - index
            case 4, 5: 9 - index
            case 6, 7: 13 - index
            default: index
            }
        }
        var first: UInt64 = 0
        var second: UInt64 = 0
        var written = 0
        var index = 0
        while index < 36 {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard characters[index] == UInt8(ascii: "-") else { return nil }
                index += 1
                continue
            }
            guard let high = hexValue(characters[index]), let low = hexValue(characters[index + 1]) else {
                return nil
            }
            let position = mixedEndian ? mixedOrder(written) : written
            let byte = UInt64(high << 4 | low)
            if position < 8 {
                first |= byte << (8 * UInt64(position))
            } else {
                second |= byte << (8 * UInt64(position - 8))
            }
            written += 1
            index += 2
        }
        return GUID(first: first, second: second)
    }

    private static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case 0x30...0x39: character - 0x30
        case 0x41...0x46: character - 0x41 + 10
        case 0x61...0x66: character - 0x61 + 10
        default: nil
        }
    }
}

/// Encoded as its 16 stored bytes, dashed, so that it round-trips whatever the format's printing convention.
extension GUID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let guid = GUID(byteOrderText: text) else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "not a GUID: \(text)")
            )
        }
        self = guid
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(byteOrderText)
    }
}
