import ChainModel

extension String.StringInterpolation {
    /// A value that came from the coordinator or from a disk, with every control character escaped (`\u{1B}`, `\n`):
    /// a VM named with terminal escape sequences can neither retitle nor clear the administrator's terminal, and a
    /// newline in a name cannot forge a line of output (issue 20).
    mutating func appendInterpolation(shown value: String) {
        appendLiteral(PrintableText.escape(value))
    }

    mutating func appendInterpolation(shown value: String?) {
        appendLiteral(value.map(PrintableText.escape) ?? "-")
    }
}
