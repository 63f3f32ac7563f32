/// JSON text written straight into a byte buffer: arrays, strings, integers and null, nothing else.
///
/// `InventoryDocument` writes a VM's whole inventory this way because Foundation's `JSONEncoder` took 0.35 s for the
/// documents of 1,000 VMs (measured on 2026-12-04), more than the SQLite rows the documents replace. What it writes
/// is read back by `JSONDecoder` and checked by SQLite's `json_valid` on every insert; `InventoryDocumentTests`
/// checks both on hostile strings.
struct JSONText {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func null() { raw("null") }

    mutating func integer(_ value: Int64) {
        // `description` of an Int64 is its decimal digits, with a leading minus when negative: valid JSON.
        bytes.append(contentsOf: value.description.utf8)
    }

    mutating func string(_ value: String?) {
        guard let value else { return null() }
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0..<0x20:
                // The other control characters as \u00XX (RFC 8259 §7); every byte of 0x20 and above, including
                // each byte of a multi-byte UTF-8 sequence, goes in as it is.
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                raw("\\u00")
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0f)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func integer(_ value: Int64?) {
        guard let value else { return null() }
        integer(value)
    }

    /// The text written so far.
    var text: String { String(decoding: bytes, as: UTF8.self) }
}
