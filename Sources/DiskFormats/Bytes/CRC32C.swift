/// CRC-32C (Castagnoli), the checksum of every VHDX structure.
///
/// Slicing-by-8 for data; long runs of zero bytes, which fill most of a 64 KiB VHDX region table,
/// are skipped with a precomputed "append N zeros" operator (the technique of zlib's
/// `crc32_combine`), so a header parse costs microseconds, not a pass over every byte.
public enum CRC32C {
    /// The CRC-32C of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { ~update(0xFFFF_FFFF, $0) }
    }

    /// The CRC-32C of what `crc` covered followed by `buffer` (start from 0): a file's checksum, read in pieces.
    public static func extend(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 { ~update(~crc, buffer) }

    /// The CRC-32C of `bytes` computed as if the four bytes at `field` were zero: how VHDX structures are checked.
    ///
    /// Reads the bytes in place, without copying the structure.
    public static func checksum(_ bytes: [UInt8], zeroingFieldAt field: Int) -> UInt32 {
        guard field >= 0, field + 4 <= bytes.count else { return checksum(bytes) }
        return bytes.withUnsafeBytes { buffer in
            var crc = update(0xFFFF_FFFF, UnsafeRawBufferPointer(rebasing: buffer[0..<field]))
            crc = withUnsafeBytes(of: UInt32(0)) { update(crc, $0) }
            crc = update(crc, UnsafeRawBufferPointer(rebasing: buffer[(field + 4)...]))
            return ~crc
        }
    }

    /// The bitwise reference implementation: slow, obviously right, used by tests.
    public static func reference(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0x82F6_3B78 & (0 &- (crc & 1))) }
        }
        return ~crc
    }

    /// Zero runs are skipped in blocks of this many bytes: small enough that a VHDX header's 80 bytes of
    /// fields cost two blocks of table lookups, the other 4,016 bytes a few operator steps.
    private static let zeroBlock = 64

    private static func update(_ start: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        var crc = start
        var offset = 0
        let count = buffer.count
        while offset < count {
            let zeros = zeroBlocks(buffer, from: offset)
            if zeros > 0 {
                crc = appendZeros(crc, zeros)
                offset += zeros
            } else {
                let length = min(zeroBlock, count - offset)
                crc = slice8(crc, buffer, offset, length)
                offset += length
            }
        }
        return crc
    }

    /// How many bytes from `offset` are zero, counted in whole `zeroBlock`s: one pass, testing once per block.
    @inline(__always)
    private static func zeroBlocks(_ buffer: UnsafeRawBufferPointer, from offset: Int) -> Int {
        var index = offset
        let end = buffer.count
        while index + zeroBlock <= end {
            // Four 16-byte vector loads folded into one, tested once.
            var folded = buffer.loadUnaligned(fromByteOffset: index, as: SIMD2<UInt64>.self)
            folded |= buffer.loadUnaligned(fromByteOffset: index + 16, as: SIMD2<UInt64>.self)
            folded |= buffer.loadUnaligned(fromByteOffset: index + 32, as: SIMD2<UInt64>.self)
            folded |= buffer.loadUnaligned(fromByteOffset: index + 48, as: SIMD2<UInt64>.self)
            if folded[0] | folded[1] != 0 { break }
            index += zeroBlock
        }
        return index - offset
    }

    private static func slice8(
        _ start: UInt32,
        _ buffer: UnsafeRawBufferPointer,
        _ offset: Int,
        _ length: Int
    )
        -> UInt32
    {
        var crc = start
        var index = offset
        let end = offset + length
        tables.withUnsafeBufferPointer { t in
            while index + 8 <= end {
                let word = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ crc
                let high = UInt32(truncatingIfNeeded: word >> 32)
                crc =
                    t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                index += 8
            }
            while index < end {
                crc = t[Int((crc ^ UInt32(buffer[index])) & 0xFF)] ^ (crc >> 8)
                index += 1
            }
        }
        return crc
    }

    /// Eight 256-entry tables, each the previous one advanced by a zero byte.
    private static let tables: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0x82F6_3B78 & (0 &- (crc & 1))) }
            table[index] = crc
        }
        for slice in 1..<8 {
            for index in 0..<256 {
                let previous = table[(slice - 1) * 256 + index]
                table[slice * 256 + index] = table[Int(previous & 0xFF)] ^ (previous >> 8)
            }
        }
        return table
    }()

    // MARK: - Appending zeros in logarithmic time

    /// A 32×32 matrix over GF(2), column `i` being the image of bit `i`.
    private typealias Matrix = [UInt32]

    private static func apply(_ matrix: Matrix, _ vector: UInt32) -> UInt32 {
        var result: UInt32 = 0
        var bits = vector
        var column = 0
        while bits != 0 {
            if bits & 1 != 0 { result ^= matrix[column] }
            bits >>= 1
            column += 1
        }
        return result
    }

    private static func square(_ matrix: Matrix) -> Matrix { matrix.map { apply(matrix, $0) } }

    /// `zeroOperators[k]` advances the CRC register over `zeroBlock << k` zero bytes.
    private static let zeroOperators: [Matrix] = {
        // One zero byte: crc' = table[crc & 0xff] ^ (crc >> 8), linear in crc.
        var oneByte = Matrix(repeating: 0, count: 32)
        for bit in 0..<32 {
            let crc = UInt32(1) << UInt32(bit)
            oneByte[bit] = tables[Int(crc & 0xFF)] ^ (crc >> 8)
        }
        var power = oneByte
        var blockSize = 1
        while blockSize < zeroBlock {
            power = square(power)
            blockSize *= 2
        }
        var operators = [power]
        for _ in 1..<32 {
            power = square(power)
            operators.append(power)
        }
        return operators
    }()

    /// The operators of `zeroOperators`, one after another (32 columns each), for reading without per-level arrays.
    private static let flatZeroOperators: [UInt32] = zeroOperators.flatMap { $0 }

    private static func appendZeros(_ crc: UInt32, _ count: Int) -> UInt32 {
        var register = crc
        var blocks = count / zeroBlock
        var level = 0
        flatZeroOperators.withUnsafeBufferPointer { operators in
            while blocks > 0 {
                if blocks & 1 != 0 {
                    // Branch-free matrix-vector product: every column, masked by its bit.
                    let matrix = level * 32
                    var result: UInt32 = 0
                    for column in 0..<32 {
                        result ^= operators[matrix + column] & (0 &- ((register >> UInt32(column)) & 1))
                    }
                    register = result
                }
                blocks >>= 1
                level += 1
            }
        }
        return register
    }
}
