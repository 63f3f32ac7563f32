/// What a name or label may contain: VM, checkpoint, volume, node and anti-affinity class names, ids, and the short
/// texts shown beside them.
///
/// Printable text only: no C0 or C1 control characters, no DEL, no line or paragraph separators, no bidirectional
/// overrides (which make a terminal or a page show text in another order than it is stored), and a length in UTF-8
/// bytes. A name that breaks the rule is refused where it enters, so neither a terminal, a log line nor a page ever
/// receives it.
public struct NameRule: Sendable, Hashable {
    /// What the rule is for, in the messages ("a VM name").
    public var what: String
    public var maxBytes: Int
    public var allowsEmpty: Bool

    public init(_ what: String, maxBytes: Int = 255, allowsEmpty: Bool = false) {
        self.what = what
        self.maxBytes = maxBytes
        self.allowsEmpty = allowsEmpty
    }

    /// Names of VMs, checkpoints, volumes, classes and nodes (Hyper-V allows 100 characters for a VM, libvirt more).
    public static func name(_ what: String) -> NameRule { NameRule(what, maxBytes: 255) }
    /// Identifiers (GUIDs, UUIDs, libvirt snapshot names used as ids).
    public static func identifier(_ what: String) -> NameRule { NameRule(what, maxBytes: 255) }
    /// Free text an agent sends beside a name: an inventory error, a problem's detail.
    public static func message(_ what: String) -> NameRule {
        NameRule(what, maxBytes: 4096, allowsEmpty: true)
    }

    /// Why `text` breaks the rule, or `nil` when it keeps it.
    public func violation(in text: String) -> String? {
        if text.isEmpty { return allowsEmpty ? nil : "\(what) must not be empty" }
        if text.utf8.count > maxBytes {
            return "\(what) is \(text.utf8.count) bytes long; at most \(maxBytes) are allowed"
        }
        if let scalar = text.unicodeScalars.first(where: Self.isForbidden) {
            return "\(what) contains the control character \(Self.codePoint(scalar)); only printable text is allowed"
        }
        return nil
    }

    /// Throws `invalid-name` with `violation(in:)`'s message.
    public func check(_ text: String) throws(ModelError) {
        if let problem = violation(in: text) { throw ModelError(.invalidName, problem) }
    }

    /// Control characters, line and paragraph separators, and bidirectional embeddings, overrides and isolates.
    public static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x2028, 0x2029: true
        case 0x202A...0x202E, 0x2066...0x2069: true
        case 0x200E, 0x200F, 0x061C: true
        default: false
        }
    }

    /// `U+001B` style.
    public static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
