import Foundation
import FoundationXML

/// The XML a checkpoint operation reads and writes through libvirt (issue 24): a snapshot's shape, the snapshot XML
/// that creates external overlays where the location rule allowed them, and a domain definition moved onto new files.
public enum LibvirtCheckpointXML {
    /// A snapshot as a checkpoint operation needs it.
    public struct SnapshotShape: Sendable, Hashable {
        public var name: String
        public var parent: String?
        /// `running`, `paused`, `shutoff` or `disk-snapshot`.
        public var state: String?
        public var memoryFile: String?
        /// Guest device → the overlay libvirt created on top of the captured disk.
        public var overlays: [String: String]
        /// Guest device → the file holding the snapshot's disk state (the captured domain's disk source).
        public var captured: [String: String]
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A disk of a domain definition: guest device and file source.
    public struct FileDisk: Sendable, Hashable {
        public var target: String
        public var source: String
        /// The driver's format (`qcow2`, `raw`), when given.
        public var format: String?
    }

    public static func shape(of xml: String) throws(Failure) -> SnapshotShape {
        let parsed: LibvirtXML.Snapshot
        do throws(LibvirtXML.Failure) {
            parsed = try LibvirtXML.snapshot(Data(xml.utf8), what: "snapshot XML")
        } catch {
            throw Failure(description: error.description)
        }
        var captured: [String: String] = [:]
        for disk in parsed.domain?.disks ?? [] where disk.type == "file" {
            if let target = disk.target, let source = disk.source { captured[target] = source }
        }
        return SnapshotShape(
            name: parsed.name,
            parent: parsed.parent,
            state: parsed.state,
            memoryFile: parsed.memoryFile,
            overlays: parsed.overlays,
            captured: captured
        )
    }

    /// The file-backed disks (`device='disk'`) of a domain definition.
    public static func fileDisks(of xml: String) throws(Failure) -> [FileDisk] {
        let root = try document(xml)
        return (root.elements(forName: "devices").first?.elements(forName: "disk") ?? []).compactMap { disk in
            guard disk.attribute(forName: "type")?.stringValue ?? "file" == "file",
                disk.attribute(forName: "device")?.stringValue ?? "disk" == "disk",
                let target = disk.elements(forName: "target").first?.attribute(forName: "dev")?.stringValue,
                let source = disk.elements(forName: "source").first?.attribute(forName: "file")?.stringValue
            else { return nil }
            let format = disk.elements(forName: "driver").first?.attribute(forName: "type")?.stringValue
            return FileDisk(target: target, source: source, format: format)
        }
    }

    /// A `<domainsnapshot>` that creates an external overlay for each disk in `overlays` (device → new file), none for
    /// the other disks, and saves memory to `memoryFile` when given.
    public static func createSnapshot(
        name: String,
        description: String?,
        memoryFile: String?,
        overlays: [String: String],
        otherDisks: [String]
    ) -> String {
        let root = XMLElement(name: "domainsnapshot")
        root.addChild(XMLElement(name: "name", stringValue: name))
        if let description { root.addChild(XMLElement(name: "description", stringValue: description)) }
        let memory = XMLElement(name: "memory")
        if let memoryFile {
            memory.addAttribute(attribute("snapshot", "external"))
            memory.addAttribute(attribute("file", memoryFile))
        } else {
            memory.addAttribute(attribute("snapshot", "no"))
        }
        root.addChild(memory)
        let disks = XMLElement(name: "disks")
        for (target, file) in overlays.sorted(by: { $0.key < $1.key }) {
            let disk = XMLElement(name: "disk")
            disk.addAttribute(attribute("name", target))
            disk.addAttribute(attribute("snapshot", "external"))
            let driver = XMLElement(name: "driver")
            driver.addAttribute(attribute("type", "qcow2"))
            disk.addChild(driver)
            let source = XMLElement(name: "source")
            source.addAttribute(attribute("file", file))
            disk.addChild(source)
            disks.addChild(disk)
        }
        for target in otherDisks.sorted() where overlays[target] == nil {
            let disk = XMLElement(name: "disk")
            disk.addAttribute(attribute("name", target))
            disk.addAttribute(attribute("snapshot", "no"))
            disks.addChild(disk)
        }
        root.addChild(disks)
        return root.xmlString
    }

    /// `xml` (a domain definition, or a snapshot's XML with its captured `<domain>`) with each file disk whose source
    /// is a key of `sources` moved to the value, its `<backingStore>` removed (libvirt reads the new file's header).
    public static func replacingSources(in xml: String, _ sources: [String: String]) throws(Failure) -> String {
        let root = try document(xml)
        let domains = root.name == "domain" ? [root] : root.elements(forName: "domain")
        for domain in domains {
            for disk in domain.elements(forName: "devices").first?.elements(forName: "disk") ?? [] {
                guard let source = disk.elements(forName: "source").first,
                    let file = source.attribute(forName: "file")?.stringValue, let replacement = sources[file]
                else { continue }
                source.attribute(forName: "file")?.stringValue = replacement
                for (index, child) in (disk.children ?? []).enumerated().reversed()
                where (child as? XMLElement)?.name == "backingStore" {
                    disk.removeChild(at: index)
                }
            }
        }
        return root.xmlString
    }

    /// Each file disk of a domain definition moved from its source to `sources[target]`, by guest device.
    public static func replacingSources(in xml: String, byTarget sources: [String: String]) throws(Failure) -> String {
        var bySource: [String: String] = [:]
        for disk in try fileDisks(of: xml) { if let new = sources[disk.target] { bySource[disk.source] = new } }
        return try replacingSources(in: xml, bySource)
    }

    private static func document(_ xml: String) throws(Failure) -> XMLElement {
        do throws(LibvirtXML.Failure) {
            return try LibvirtXML.document(Data(xml.utf8), what: "libvirt XML")
        } catch {
            throw Failure(description: error.description)
        }
    }

    private static func attribute(_ name: String, _ value: String) -> XMLNode {
        let node = XMLNode(kind: .attribute)
        node.name = name
        node.stringValue = value
        return node
    }
}
