import Crypto
import GRDB

/// The SHA-256 of a list of row values: `InventoryDocument` digests a VM's `vm_disk` rows with it (`vm.disks_digest`),
/// so that a report that changed no disk's place does not rewrite them.
///
/// Each value is tagged and length-prefixed, each list counted, so no two different row sets serialise alike.
struct InventoryShape {
    private var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func add(_ value: DatabaseValue) {
        switch value.storage {
        case .null:
            bytes.append(0)
        case .int64(let number):
            bytes.append(1)
            add(UInt64(bitPattern: number))
        case .double(let number):
            bytes.append(2)
            add(number.bitPattern)
        case .string(let text):
            bytes.append(3)
            add(UInt64(text.utf8.count))
            bytes.append(contentsOf: text.utf8)
        case .blob(let data):
            bytes.append(4)
            add(UInt64(data.count))
            bytes.append(contentsOf: data)
        }
    }

    /// A count or an index.
    mutating func add(_ number: Int) {
        bytes.append(5)
        add(UInt64(bitPattern: Int64(number)))
    }

    private mutating func add(_ word: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
    }

    /// `sha256:` and 64 lowercase hex digits.
    var digest: String {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var text = Array("sha256:".utf8)
        for byte in SHA256.hash(data: bytes) {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
