import DiskFormats

/// Byte-level edits used by the malformed corpus and the fuzzer.
public enum Mutations {
    /// Recomputes the CRC-32C of the `length`-byte VHDX structure at `offset` (checksum at +4).
    public static func fixVHDXChecksum(_ bytes: inout [UInt8], at offset: Int, length: Int) {
        let structure = Array(bytes[offset..<(offset + length)])
        let crc = CRC32C.checksum(structure, zeroingFieldAt: 4)
        for i in 0..<4 { bytes[offset + 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
    }

    /// Recomputes a VHD checksum (one's complement byte sum, big-endian) of a structure.
    public static func fixVHDChecksum(_ bytes: inout [UInt8], at offset: Int, length: Int, field: Int) {
        var sum: UInt32 = 0
        for i in 0..<length where i < field || i >= field + 4 { sum &+= UInt32(bytes[offset + i]) }
        let value = ~sum
        for i in 0..<4 { bytes[offset + field + i] = UInt8(truncatingIfNeeded: value >> (8 * (3 - i))) }
    }

    public static func putLE32(_ bytes: inout [UInt8], _ value: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    public static func putLE16(_ bytes: inout [UInt8], _ value: UInt16, at offset: Int) {
        for i in 0..<2 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    public static func putLE64(_ bytes: inout [UInt8], _ value: UInt64, at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    public static func putBE32(_ bytes: inout [UInt8], _ value: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * (3 - i))) }
    }

    public static func putBE64(_ bytes: inout [UInt8], _ value: UInt64, at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * (7 - i))) }
    }

    /// One random mutation: bit flips, a random byte run, an interesting integer written over a field, or a truncation.
    ///
    /// Structures whose checksum would otherwise hide the change from deeper parsing get their checksums repaired half
    /// of the time.
    public static func mutate<R: RandomNumberGenerator>(_ input: [UInt8], using generator: inout R) -> [UInt8] {
        var bytes = input
        guard !bytes.isEmpty else { return bytes }
        let hotSpots =
            [0, 8, 0x1_0000, 0x2_0000, 0x3_0000, 0x4_0000, 1 << 20, 2 << 20, (2 << 20) + 0x1_0000, 3 << 20]
            .filter { $0 < bytes.count } + [max(0, bytes.count - 512), 512, 1536]
        let near = hotSpots.randomElement(using: &generator) ?? 0
        let position = min(bytes.count - 1, near + Int.random(in: 0..<256, using: &generator))
        switch Int.random(in: 0..<5, using: &generator) {
        case 0:
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                let at = min(bytes.count - 1, position + Int.random(in: 0..<64, using: &generator))
                bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
            }
        case 1:
            let interesting: [UInt64] = [
                0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 1 << 20, 1 << 32, .max, 4096, 2047, 2048,
            ]
            let value = interesting.randomElement(using: &generator) ?? 0
            let width = [2, 4, 8].randomElement(using: &generator) ?? 4
            for i in 0..<width where position + i < bytes.count {
                bytes[position + i] = UInt8(truncatingIfNeeded: value >> (8 * i))
            }
        case 2:
            for i in 0..<Int.random(in: 1...32, using: &generator) where position + i < bytes.count {
                bytes[position + i] = UInt8.random(in: 0...255, using: &generator)
            }
        case 3:
            bytes.removeLast(Int.random(in: 0..<bytes.count, using: &generator))
        default:
            let source = Int.random(in: 0..<bytes.count, using: &generator)
            let length = min(64, bytes.count - max(source, position))
            if length > 0 {
                // Copied out first: a slice of `bytes` would share its storage and force a copy of the whole file.
                let piece = Array(bytes[source..<(source + length)])
                bytes.replaceSubrange(position..<(position + length), with: piece)
            }
        }
        if Bool.random(using: &generator), bytes.count >= 0x5_0000, bytes.starts(with: Array("vhdxfile".utf8)) {
            for offset in [0x1_0000, 0x2_0000] { fixVHDXChecksum(&bytes, at: offset, length: 4096) }
            for offset in [0x3_0000, 0x4_0000] { fixVHDXChecksum(&bytes, at: offset, length: 0x1_0000) }
        }
        return bytes
    }
}
