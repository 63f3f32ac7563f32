/// The VHDX parent locator item (MS-VHDX 2.6.2.6): key/value pairs in UTF-16LE.
enum VHDXParentLocator {
    static func parse(_ item: ByteCursor) throws(DiskFormatError) -> ParentReference {
        let name = "VHDX parent locator"
        guard try item.guid(0) == VHDXLayout.vhdxParentLocatorType else {
            throw .malformed(
                name,
                at: item.base,
                "locator type is not the VHDX locator {B04AEFB7-D19E-4A81-B789-25B8E9445913}"
            )
        }
        let count = Int(try item.le16(18))
        guard 20 + count * 12 <= item.count else {
            throw .malformed(
                name,
                at: item.base + 18,
                "\(count) entries do not fit in the \(item.count)-byte item"
            )
        }
        // The five keys chain discovery uses are recognised by their UTF-16LE bytes and decoded only as far as needed;
        // any other key is decoded and checked like them. A hostile entry count gets a set for the duplicate check.
        var found = Found()
        var otherKeys: [String] = []
        var otherKeySet = Set<String>()
        for entryIndex in 0..<count {
            let at = 20 + entryIndex * 12
            let entryOffset = item.base + UInt64(at)
            let keyOffset = Int(try item.le32(at))
            let valueOffset = Int(try item.le32(at + 4))
            let keyLength = Int(try item.le16(at + 8))
            let valueLength = Int(try item.le16(at + 10))
            guard keyOffset > 0, valueOffset > 0, keyLength > 0, valueLength > 0,
                keyOffset <= item.count - keyLength, valueOffset <= item.count - valueLength
            else {
                throw .malformed(
                    "VHDX parent locator entry \(entryIndex)",
                    at: entryOffset,
                    "key or value lies outside the locator item"
                )
            }
            let keyBytes = try item.slice(keyOffset, keyLength)
            let valueBytes = try item.slice(valueOffset, valueLength)
            func invalidValue(_ key: String) -> DiskFormatError {
                .malformed(
                    "VHDX parent locator entry \(entryIndex)",
                    at: item.base + UInt64(valueOffset),
                    "value of '\(key)' is not valid UTF-16 without NUL"
                )
            }
            func duplicate(_ key: String) -> DiskFormatError {
                .malformed("VHDX parent locator entry \(entryIndex)", at: entryOffset, "key '\(key)' appears twice")
            }
            if let known = KnownKey(utf16LE: keyBytes) {
                let value: Value
                if known.isLinkage, let guid = GUID(mixedEndianUTF16LE: valueBytes) {
                    value = .guid(guid)
                } else {
                    guard let text = UTF16Text.strict(valueBytes, .little) else { throw invalidValue(known.rawValue) }
                    value = .text(text)
                }
                guard found[known] == nil else { throw duplicate(known.rawValue) }
                found[known] = value
            } else {
                guard let key = UTF16Text.strict(keyBytes, .little) else {
                    throw .malformed(
                        "VHDX parent locator entry \(entryIndex)",
                        at: item.base + UInt64(keyOffset),
                        "key is not valid UTF-16 without NUL"
                    )
                }
                guard UTF16Text.strict(valueBytes, .little) != nil else { throw invalidValue(key) }
                let repeated = count <= 32 ? otherKeys.contains(key) : !otherKeySet.insert(key).inserted
                guard !repeated else { throw duplicate(key) }
                otherKeys.append(key)
            }
        }
        func linkage(_ key: KnownKey) throws(DiskFormatError) -> GUID? {
            switch found[key] {
            case nil: return nil
            case .guid(let guid): return guid
            case .text(let text): throw .malformed(name, at: item.base, "\(key.rawValue) '\(text)' is not a GUID")
            }
        }
        func text(_ key: KnownKey) -> String? {
            if case .text(let text) = found[key] { text } else { nil }
        }
        guard let identifier = try linkage(.parentLinkage) else {
            throw .malformed(name, at: item.base, "parent_linkage is missing")
        }
        let reference = ParentReference(
            identifier: identifier,
            alternateIdentifier: try linkage(.parentLinkage2),
            relativePath: text(.relativePath),
            volumePath: text(.volumePath),
            absoluteWin32Path: text(.absoluteWin32Path)
        )
        guard reference.relativePath != nil || reference.volumePath != nil || reference.absoluteWin32Path != nil else {
            throw .malformed(name, at: item.base, "none of relative_path, volume_path, absolute_win32_path is present")
        }
        return reference
    }

    /// The locator keys chain discovery reads.
    private enum KnownKey: String, CaseIterable {
        case parentLinkage = "parent_linkage"
        case parentLinkage2 = "parent_linkage2"
        case relativePath = "relative_path"
        case volumePath = "volume_path"
        case absoluteWin32Path = "absolute_win32_path"

        var isLinkage: Bool { self == .parentLinkage || self == .parentLinkage2 }

        /// Each key's UTF-16LE encoding, computed once.
        private static let encodings: [(key: KnownKey, bytes: [UInt8])] = allCases.map {
            ($0, UTF16Text.encode($0.rawValue, .little))
        }

        /// The key whose UTF-16LE encoding is exactly `bytes`.
        init?(utf16LE bytes: ArraySlice<UInt8>) {
            let found = bytes.withUnsafeBytes { raw -> KnownKey? in
                for candidate in Self.encodings where candidate.bytes.count == raw.count {
                    let equal = candidate.bytes.withUnsafeBytes { expected in
                        for index in 0..<raw.count where raw[index] != expected[index] { return false }
                        return true
                    }
                    if equal { return candidate.key }
                }
                return nil
            }
            guard let found else { return nil }
            self = found
        }
    }

    private enum Value {
        case guid(GUID)
        case text(String)
    }

    /// The values of the known keys found so far: fields rather than a collection, so parsing allocates nothing for
    /// them.
    private struct Found {
        var parentLinkage: Value?
        var parentLinkage2: Value?
        var relativePath: Value?
        var volumePath: Value?
        var absoluteWin32Path: Value?

        subscript(key: KnownKey) -> Value? {
            get {
                switch key {
                case .parentLinkage: parentLinkage
                case .parentLinkage2: parentLinkage2
                case .relativePath: relativePath
                case .volumePath: volumePath
                case .absoluteWin32Path: absoluteWin32Path
                }
            }
            set {
                switch key {
                case .parentLinkage: parentLinkage = newValue
                case .parentLinkage2: parentLinkage2 = newValue
                case .relativePath: relativePath = newValue
                case .volumePath: volumePath = newValue
                case .absoluteWin32Path: absoluteWin32Path = newValue
                }
            }
        }
    }
}
