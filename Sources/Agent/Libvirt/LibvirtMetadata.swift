import ClusterAPI
import Foundation
import FoundationXML

/// The domain and snapshot XML a hand-off carries (issue 23), as the agent reads them from libvirt's own files,
/// with secrets stripped.
///
/// What is stripped: every `passwd` attribute (a VNC or SPICE password is stored in the persistent XML), the header
/// comment, and a snapshot's `<active>` element (libvirt's on-disk mark of the current snapshot, which a redefine does
/// not take: `HypervisorMetadata.Snapshot.current` carries it). A domain that needs a libvirt secret keeps only the
/// reference (`<secret type=… uuid=…>`); the value never leaves the host, and the target's preflight refuses when that
/// secret is not defined there.
///
/// Files are cleaned as text (libvirt's own formatting kept, what a redefine reads best): re-serialising each parsed
/// document more than doubled the read of a 1,000-domain node with 16 snapshots each (2.8 s to 6.4 s,
/// docs/benchmarks.md). Only a transient domain's running XML, which sits inside `<domstatus>`, is re-serialised.
enum LibvirtMetadata {
    /// A file's XML with secrets stripped: everything before the root element (the XML declaration, libvirt's
    /// warning comment), `<active>` lines and `passwd` attributes removed.
    static func cleaned(text: String) -> String {
        var rest = Substring(text)
        while true {
            rest = rest.drop { $0.isWhitespace }
            if rest.hasPrefix("<?"), let end = rest.range(of: "?>") {
                rest = rest[end.upperBound...]
            } else if rest.hasPrefix("<!--"), let end = rest.range(of: "-->") {
                rest = rest[end.upperBound...]
            } else {
                break
            }
        }
        var lines = rest.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeAll { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed == "<active>0</active>" || trimmed == "<active>1</active>"
        }
        var cleaned = lines.joined(separator: "\n")
        for quote in ["'", "\""] {
            while let start = cleaned.range(of: " passwd=" + quote),
                let end = cleaned[start.upperBound...].firstIndex(of: Character(quote))
            {
                cleaned.removeSubrange(start.lowerBound...end)
            }
        }
        return cleaned
    }

    /// The element's XML with secrets stripped (a transient domain's running definition).
    static func cleaned(_ root: XMLElement) -> String {
        guard let copy = root.copy() as? XMLElement else { return root.xmlString }
        strip(copy)
        return copy.xmlString
    }

    private static func strip(_ element: XMLElement) {
        element.removeAttribute(forName: "passwd")
        for child in element.children ?? [] {
            if child.kind == .comment {
                child.detach()
            } else if let child = child as? XMLElement {
                if child.name == "active", element.name == "domainsnapshot" {
                    child.detach()
                } else {
                    strip(child)
                }
            }
        }
    }

    /// The libvirt secrets the domain refers to (`<secret>` under a disk's `<auth>` or `<encryption>`).
    static func secrets(_ root: XMLElement) -> [HypervisorMetadata.SecretReference] {
        var found: [HypervisorMetadata.SecretReference] = []
        func walk(_ element: XMLElement) {
            if element.name == "secret" {
                let reference = HypervisorMetadata.SecretReference(
                    uuid: element.attribute(forName: "uuid")?.stringValue,
                    usageType: element.attribute(forName: "type")?.stringValue,
                    usageId: element.attribute(forName: "usage")?.stringValue
                )
                if reference.uuid != nil || reference.usageId != nil, !found.contains(reference) {
                    found.append(reference)
                }
            }
            for child in element.children ?? [] { if let child = child as? XMLElement { walk(child) } }
        }
        walk(root)
        return found
    }

    /// Snapshots ordered parents before children (names break ties), as a redefine needs them.
    static func treeOrder(_ snapshots: [HypervisorMetadata.Snapshot]) -> [HypervisorMetadata.Snapshot] {
        let names = Set(snapshots.map(\.name))
        var children: [String: [HypervisorMetadata.Snapshot]] = [:]
        for snapshot in snapshots {
            let parent = snapshot.parent.flatMap { names.contains($0) ? $0 : nil } ?? ""
            children[parent, default: []].append(snapshot)
        }
        var ordered: [HypervisorMetadata.Snapshot] = []
        var queue = (children[""] ?? []).sorted { $0.name < $1.name }
        var seen = Set<String>()
        while !queue.isEmpty {
            let next = queue.removeFirst()
            guard seen.insert(next.name).inserted else { continue }
            ordered.append(next)
            queue += (children[next.name] ?? []).sorted { $0.name < $1.name }
        }
        return ordered
    }
}
