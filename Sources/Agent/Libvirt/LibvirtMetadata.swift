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
enum LibvirtMetadata {
    /// The element's XML with secrets stripped.
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
