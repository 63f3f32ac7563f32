/// Text made safe to print on a terminal or in a log line: every character `NameRule` forbids is shown as an escape
/// (`\n`, `\t`, `\u{1B}`), so a stored name can neither retitle or clear a terminal nor forge a log line.
///
/// Names are refused with such characters where they enter; this is for everything else that is printed (paths,
/// messages, values stored before the rule, a coordinator that does not apply it).
public enum PrintableText {
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: NameRule.isForbidden) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard NameRule.isForbidden(scalar) else {
                out.append(scalar)
                continue
            }
            let escaped: String =
                switch scalar {
                case "\n": "\\n"
                case "\r": "\\r"
                case "\t": "\\t"
                default: "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                }
            out.append(contentsOf: escaped.unicodeScalars)
        }
        return String(out)
    }
}
