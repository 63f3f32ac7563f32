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
        guard 20 + count * 12 <= item.bytes.count else {
            throw .malformed(
                name,
                at: item.base + 18,
                "\(count) entries do not fit in the \(item.bytes.count)-byte item"
            )
        }
        var values: [String: String] = [:]
        for index in 0..<count {
            let at = 20 + index * 12
            let entryOffset = item.base + UInt64(at)
            let keyOffset = Int(try item.le32(at))
            let valueOffset = Int(try item.le32(at + 4))
            let keyLength = Int(try item.le16(at + 8))
            let valueLength = Int(try item.le16(at + 10))
            let entryName = "VHDX parent locator entry \(index)"
            guard keyOffset > 0, valueOffset > 0, keyLength > 0, valueLength > 0,
                keyOffset <= item.bytes.count - keyLength, valueOffset <= item.bytes.count - valueLength
            else {
                throw .malformed(entryName, at: entryOffset, "key or value lies outside the locator item")
            }
            guard let key = UTF16Text.strict(try item.slice(keyOffset, keyLength), .little) else {
                throw .malformed(entryName, at: item.base + UInt64(keyOffset), "key is not valid UTF-16 without NUL")
            }
            guard let value = UTF16Text.strict(try item.slice(valueOffset, valueLength), .little) else {
                throw .malformed(
                    entryName,
                    at: item.base + UInt64(valueOffset),
                    "value of '\(key)' is not valid UTF-16 without NUL"
                )
            }
            guard values.updateValue(value, forKey: key) == nil else {
                throw .malformed(entryName, at: entryOffset, "key '\(key)' appears twice")
            }
        }
        guard let linkageText = values["parent_linkage"] else {
            throw .malformed(name, at: item.base, "parent_linkage is missing")
        }
        guard let linkage = GUID(mixedEndianText: linkageText) else {
            throw .malformed(name, at: item.base, "parent_linkage '\(linkageText)' is not a GUID")
        }
        var alternate: GUID?
        if let text = values["parent_linkage2"] {
            guard let guid = GUID(mixedEndianText: text) else {
                throw .malformed(name, at: item.base, "parent_linkage2 '\(text)' is not a GUID")
            }
            alternate = guid
        }
        let reference = ParentReference(
            identifier: linkage,
            alternateIdentifier: alternate,
            relativePath: values["relative_path"],
            volumePath: values["volume_path"],
            absoluteWin32Path: values["absolute_win32_path"]
        )
        guard reference.relativePath != nil || reference.volumePath != nil || reference.absoluteWin32Path != nil else {
            throw .malformed(name, at: item.base, "none of relative_path, volume_path, absolute_win32_path is present")
        }
        return reference
    }
}
