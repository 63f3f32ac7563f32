/// Where the `vms` array of a report's JSON lies and where each of its entries begins and ends, so that the entries
/// are decoded in parts on several threads (a 1,000-VM report is 10 MiB of JSON; decoding it whole took a quarter of
/// a second on one core).
///
/// This finds structure only; every part is then decoded by `JSONDecoder`, which checks it. A document this scanner
/// does not take apart with certainty (not an object; a key written with escapes; `vms` twice or not an array; an entry
/// that is not an object) gives `nil`, and the caller decodes it whole. Parts that all decode are the whole document:
/// the header is the document with `vms` emptied, and the entries are its text between top-level commas.
public struct ReportSplit: Sendable, Equatable {
    /// The `vms` value, brackets included.
    public var vms: Range<Int>
    /// Each entry of `vms`, `{` to `}`.
    public var entries: [Range<Int>]

    public init?(_ bytes: UnsafeRawBufferPointer) {
        var scanner = Scanner(bytes: bytes)
        guard let found = scanner.topLevelVMs() else { return nil }
        self = found
    }

    init(vms: Range<Int>, entries: [Range<Int>]) {
        self.vms = vms
        self.entries = entries
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var at = 0

        static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        static let openBrace = UInt8(ascii: "{"), closeBrace = UInt8(ascii: "}")
        static let openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]")
        static let comma = UInt8(ascii: ","), colon = UInt8(ascii: ":")

        var current: UInt8? { at < bytes.count ? bytes[at] : nil }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { at += 1 }
        }

        /// Past a string starting at `at` (on its quote); whether it held an escape.
        mutating func skipString() -> (ok: Bool, escaped: Bool) {
            at += 1
            var escaped = false
            while let byte = current {
                at += 1
                if byte == Self.quote { return (true, escaped) }
                if byte == Self.backslash {
                    escaped = true
                    at += 1
                }
            }
            return (false, escaped)
        }

        /// Past the value starting at `at`: a string, or an object or array with all it nests (scalars up to the next
        /// delimiter).
        mutating func skipValue() -> Bool {
            guard let first = current else { return false }
            if first == Self.quote { return skipString().ok }
            guard first == Self.openBrace || first == Self.openBracket else {
                while let byte = current, byte != Self.comma, byte != Self.closeBrace, byte != Self.closeBracket,
                    byte > 0x20
                {
                    at += 1
                }
                return true
            }
            var depth = 0
            while let byte = current {
                if byte == Self.quote {
                    guard skipString().ok else { return false }
                    continue
                }
                if byte == Self.openBrace || byte == Self.openBracket {
                    depth += 1
                } else if byte == Self.closeBrace || byte == Self.closeBracket {
                    depth -= 1
                    if depth == 0 {
                        at += 1
                        return true
                    }
                }
                at += 1
            }
            return false
        }

        mutating func topLevelVMs() -> ReportSplit? {
            skipSpace()
            guard current == Self.openBrace else { return nil }
            at += 1
            var found: ReportSplit?
            skipSpace()
            if current == Self.closeBrace { return nil }
            while true {
                skipSpace()
                guard current == Self.quote else { return nil }
                let keyStart = at + 1
                let key = skipString()
                guard key.ok, !key.escaped else { return nil }
                let isVMs =
                    at - 1 - keyStart == 3 && bytes[keyStart] == UInt8(ascii: "v")
                    && bytes[keyStart + 1] == UInt8(ascii: "m") && bytes[keyStart + 2] == UInt8(ascii: "s")
                skipSpace()
                guard current == Self.colon else { return nil }
                at += 1
                skipSpace()
                if isVMs {
                    guard found == nil, let array = entries() else { return nil }
                    found = array
                } else {
                    guard skipValue() else { return nil }
                }
                skipSpace()
                if current == Self.comma {
                    at += 1
                    continue
                }
                guard current == Self.closeBrace else { return nil }
                at += 1
                break
            }
            skipSpace()
            return at == bytes.count ? found : nil
        }

        /// The array at `at` and its entries, each an object.
        mutating func entries() -> ReportSplit? {
            guard current == Self.openBracket else { return nil }
            let start = at
            at += 1
            var entries: [Range<Int>] = []
            skipSpace()
            if current == Self.closeBracket {
                at += 1
                return ReportSplit(vms: start..<at, entries: [])
            }
            while true {
                skipSpace()
                let entryStart = at
                guard current == Self.openBrace, skipValue(), bytes[at - 1] == Self.closeBrace else { return nil }
                entries.append(entryStart..<at)
                skipSpace()
                if current == Self.comma {
                    at += 1
                    continue
                }
                guard current == Self.closeBracket else { return nil }
                at += 1
                return ReportSplit(vms: start..<at, entries: entries)
            }
        }
    }
}
