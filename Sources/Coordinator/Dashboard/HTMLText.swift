import ClusterAPI
import Foundation
import Mustache

/// Escaping for everything the dashboard writes into a page.
///
/// Cluster data is hostile input (a VM is named by whoever can create one on a hypervisor), so every value goes
/// through `escape`, which works on Unicode scalars: swift-mustache's own HTML escaping compares whole `Character`s,
/// and a quote followed by a combining mark (`"\u{301}`) is one `Character` that is not `"`, so it would pass a raw
/// quote into an attribute.
enum HTMLText {
    /// The Mustache content type every dashboard template declares (`DashboardTemplates` adds the pragma).
    static let contentTypeName = "CHAINKEEPER_HTML"

    /// Registers the content type once, before any template is parsed.
    static let registered: Void = MustacheContentTypes.register(ContentType(), named: contentTypeName)

    struct ContentType: MustacheContentType {
        func escapeText(_ text: String) -> String { HTMLText.escape(text) }
    }

    /// `text` safe inside an element and inside a quoted attribute value.
    ///
    /// Replaces `& < > " ' \``, and C0 controls other than tab and newline (which have no place in a page and can
    /// confuse parsers), scalar by scalar.
    static func escape(_ text: String) -> String {
        var output = String.UnicodeScalarView()
        output.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": output.append(contentsOf: "&amp;".unicodeScalars)
            case "<": output.append(contentsOf: "&lt;".unicodeScalars)
            case ">": output.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": output.append(contentsOf: "&quot;".unicodeScalars)
            case "'": output.append(contentsOf: "&#39;".unicodeScalars)
            case "`": output.append(contentsOf: "&#96;".unicodeScalars)
            case "\t", "\n": output.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    output.append("\u{FFFD}")
                } else {
                    output.append(scalar)
                }
            }
        }
        return String(output)
    }

    /// One path segment, percent-encoded (only RFC 3986 unreserved characters stay as they are), so a VM or node
    /// name can never add a segment, a query or a scheme to a link.
    static func segment(_ text: String) -> String { PathSegment.encode(text) }

    /// A query value, percent-encoded the same way.
    static func query(_ text: String) -> String { segment(text) }
}
