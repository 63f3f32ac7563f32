import Foundation
import FoundationXML

/// The XML a repair rewrites (issue 25): every file a domain definition or a snapshot names, moved to its new place.
public enum LibvirtRepairXML {
    /// A domain definition or a snapshot's XML with every moved file replaced by its new place.
    ///
    /// Disk and CD-ROM sources, a snapshot's overlays (`<disks>`), its memory file and its captured `<domain>`; a disk
    /// whose source moved loses its `<backingStore>` (libvirt reads the new file's header instead).
    public static func replacingFiles(
        in xml: String,
        _ moves: [String: String]
    ) throws(LibvirtCheckpointXML.Failure) -> String {
        let root = try document(xml)
        rewrite(root, moves)
        return root.xmlString
    }

    /// Every `file` the XML names (sources, snapshot overlays, memory): what a repair checks is gone from it.
    public static func files(in xml: String) throws(LibvirtCheckpointXML.Failure) -> Set<String> {
        var found = Set<String>()
        collect(try document(xml), into: &found)
        return found
    }

    /// The CD-ROMs (`device='cdrom'`) with a file medium: guest device, medium, and the `<disk>` element as XML.
    public static func mediaDisks(
        of xml: String
    ) throws(LibvirtCheckpointXML.Failure) -> [(target: String, source: String, element: String)] {
        let root = try document(xml)
        return (root.elements(forName: "devices").first?.elements(forName: "disk") ?? []).compactMap { disk in
            guard disk.attribute(forName: "device")?.stringValue == "cdrom",
                let target = disk.elements(forName: "target").first?.attribute(forName: "dev")?.stringValue,
                let source = disk.elements(forName: "source").first?.attribute(forName: "file")?.stringValue
            else { return nil }
            return (target, source, disk.xmlString)
        }
    }

    private static func rewrite(_ element: XMLElement, _ moves: [String: String]) {
        if ["source", "memory"].contains(element.name), let file = element.attribute(forName: "file"),
            let old = file.stringValue, let new = moves[old]
        {
            file.stringValue = new
            if element.name == "source", let disk = element.parent as? XMLElement, disk.name == "disk" {
                for (index, child) in (disk.children ?? []).enumerated().reversed()
                where (child as? XMLElement)?.name == "backingStore" {
                    disk.removeChild(at: index)
                }
            }
        }
        for child in element.children ?? [] {
            if let child = child as? XMLElement { rewrite(child, moves) }
        }
    }

    private static func collect(_ element: XMLElement, into found: inout Set<String>) {
        if ["source", "memory"].contains(element.name), let file = element.attribute(forName: "file")?.stringValue,
            !file.isEmpty
        {
            found.insert(file)
        }
        for child in element.children ?? [] {
            if let child = child as? XMLElement { collect(child, into: &found) }
        }
    }

    private static func document(_ xml: String) throws(LibvirtCheckpointXML.Failure) -> XMLElement {
        do throws(LibvirtXML.Failure) {
            return try LibvirtXML.document(Data(xml.utf8), what: "libvirt XML")
        } catch {
            throw LibvirtCheckpointXML.Failure(description: error.description)
        }
    }
}
