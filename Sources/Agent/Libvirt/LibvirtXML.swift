import ClusterAPI
import Foundation
import FoundationXML

/// libvirt's persistent domain XML and snapshot XML, read with a real XML parser (libxml2 through FoundationXML), never
/// loading external entities.
///
/// Only what the strand rule needs is read: the domain's name, uuid and memory, and each disk's type, device, source and
/// target; a snapshot's name, parent, creation time, state, memory file, per-disk overlays, and the domain definition
/// it captured.
enum LibvirtXML {
    struct Disk: Hashable {
        /// `file`, `block`, `network` or `volume`.
        var type: String
        /// `disk`, `cdrom`, `floppy` or `lun`.
        var device: String
        /// The file or device path, or `PROTOCOL:NAME` for a network disk; `nil` when the disk has no source (an
        /// empty CD-ROM drive).
        var source: String?
        /// The guest device name (`vda`), which ties a snapshot's overlay to the captured disk it covers.
        var target: String?
    }

    struct Domain: Hashable {
        /// The domain's XML with secrets stripped (set for a persistent definition read from its file, and for a
        /// transient domain's running one), and the secrets it refers to.
        var cleanedXML = ""
        var secrets: [HypervisorMetadata.SecretReference] = []
        var name: String
        var uuid: String
        var memoryMiB: Int
        var disks: [Disk]
        /// The UEFI variable store (`<os><nvram>`), which libvirt keeps under `/var/lib/libvirt/qemu/nvram` by default.
        var nvram: String?
        /// An emulated TPM (`<tpm><backend type='emulator' version=…>`): its version, `2.0` unless it says `1.2`.
        var tpmEmulator: String?
    }

    struct Snapshot: Hashable {
        var name: String
        var parent: String?
        /// Seconds since the Unix epoch.
        var creationTime: Int64?
        var state: String?
        /// The external memory file, when the snapshot saved memory outside the disks.
        var memoryFile: String?
        /// Disks with an external overlay: guest device name → the overlay created at the snapshot.
        var overlays: [String: String]
        /// The domain definition captured with the snapshot (its disks hold the snapshot's disk state).
        var domain: Domain?
        /// libvirt's on-disk mark of the current snapshot (`<active>1</active>`).
        var current = false
        /// The snapshot's XML with secrets stripped, for a redefine on another host.
        var cleanedXML = ""
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func document(_ data: Data, what: String) throws(Failure) -> XMLElement {
        // libxml2's tree parser recovers from some damage; the event parser is strict, so it decides well-formedness.
        let strict = XMLParser(data: data)
        strict.shouldResolveExternalEntities = false
        let balance = ElementBalance()
        strict.delegate = balance
        guard strict.parse(), balance.depth == 0, balance.elements > 0, !balance.failed else {
            throw Failure(
                description: "\(what) is not well-formed XML"
                    + (balance.depth > 0 ? " (it ends inside an element: truncated?)" : " (line \(strict.lineNumber))")
            )
        }
        do {
            let document = try XMLDocument(data: data, options: [.nodeLoadExternalEntitiesNever])
            guard let root = document.rootElement() else { throw Failure(description: "\(what) has no root element") }
            return root
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "\(what) is not well-formed XML")
        }
    }

    static func domain(_ data: Data, what: String) throws(Failure) -> Domain {
        let root = try document(data, what: what)
        guard root.name == "domain" else {
            throw Failure(description: "\(what): the root element is <\(root.name ?? "")>, not <domain>")
        }
        var parsed = try domain(root, what: what)
        parsed.cleanedXML = LibvirtMetadata.cleaned(text: String(decoding: data, as: UTF8.self))
        return parsed
    }

    static func domain(_ root: XMLElement, what: String) throws(Failure) -> Domain {
        guard let name = text(root, "name"), !name.isEmpty else { throw Failure(description: "\(what) has no <name>") }
        guard let uuid = text(root, "uuid"), !uuid.isEmpty else {
            throw Failure(description: "\(what) (\(name)) has no <uuid>")
        }
        var memoryMiB = 0
        if let memory = root.elements(forName: "memory").first {
            guard let value = memory.stringValue.flatMap({ Int64($0.trimmingCharacters(in: .whitespaces)) }),
                let mib = mebibytes(value, unit: memory.attribute(forName: "unit")?.stringValue ?? "KiB")
            else {
                throw Failure(description: "\(what) (\(name)): <memory> is not a size libvirt writes")
            }
            memoryMiB = mib
        }
        let disks = (root.elements(forName: "devices").first?.elements(forName: "disk") ?? []).map(disk)
        let nvram = root.elements(forName: "os").first.flatMap { text($0, "nvram") }.flatMap { $0.isEmpty ? nil : $0 }
        let tpm = root.elements(forName: "devices").first?.elements(forName: "tpm").lazy
            .compactMap { $0.elements(forName: "backend").first }
            .first { $0.attribute(forName: "type")?.stringValue == "emulator" }
        return Domain(
            secrets: LibvirtMetadata.secrets(root),
            name: name,
            uuid: uuid.lowercased(),
            memoryMiB: memoryMiB,
            disks: disks,
            nvram: nvram,
            tpmEmulator: tpm.map { $0.attribute(forName: "version")?.stringValue == "1.2" ? "1.2" : "2.0" }
        )
    }

    /// libvirt's live state of an active domain (`/run/libvirt/qemu/NAME.xml`), and its SPEC §4 state.
    ///
    /// `<domstatus state=…>` wraps the `<domain>` as it runs, with the disks it really uses.
    static func liveDomain(_ data: Data, what: String) throws(Failure) -> (domain: Domain, state: String) {
        let root = try document(data, what: what)
        guard root.name == "domstatus" else {
            throw Failure(description: "\(what): the root element is <\(root.name ?? "")>, not <domstatus>")
        }
        guard let element = root.elements(forName: "domain").first else {
            throw Failure(description: "\(what): <domstatus> holds no <domain>")
        }
        let state = root.attribute(forName: "state")?.stringValue ?? "running"
        return (try domain(element, what: what), LibvirtSource.state(fromOutput: state))
    }

    static func snapshot(_ data: Data, what: String) throws(Failure) -> Snapshot {
        let root = try document(data, what: what)
        guard root.name == "domainsnapshot" else {
            throw Failure(description: "\(what): the root element is <\(root.name ?? "")>, not <domainsnapshot>")
        }
        guard let name = text(root, "name"), !name.isEmpty else { throw Failure(description: "\(what) has no <name>") }
        var creation: Int64?
        if let raw = text(root, "creationTime") {
            guard let seconds = Int64(raw) else {
                throw Failure(description: "\(what) (\(name)): creationTime '\(raw)' is not a number of seconds")
            }
            creation = seconds
        }
        let memory = root.elements(forName: "memory").first
        let external = memory?.attribute(forName: "snapshot")?.stringValue == "external"
        var overlays: [String: String] = [:]
        for disk in root.elements(forName: "disks").first?.elements(forName: "disk") ?? [] {
            guard disk.attribute(forName: "snapshot")?.stringValue == "external",
                let target = disk.attribute(forName: "name")?.stringValue,
                let file = disk.elements(forName: "source").first?.attribute(forName: "file")?.stringValue
            else { continue }
            overlays[target] = file
        }
        var captured: Domain?
        if let element = root.elements(forName: "domain").first {
            captured = try domain(element, what: "\(what) (its captured domain)")
        }
        return Snapshot(
            name: name,
            parent: root.elements(forName: "parent").first.flatMap { text($0, "name") },
            creationTime: creation,
            state: text(root, "state"),
            memoryFile: external ? memory?.attribute(forName: "file")?.stringValue : nil,
            overlays: overlays,
            domain: captured,
            current: text(root, "active") == "1",
            cleanedXML: LibvirtMetadata.cleaned(text: String(decoding: data, as: UTF8.self))
        )
    }

    private static func disk(_ element: XMLElement) -> Disk {
        let type = element.attribute(forName: "type")?.stringValue ?? "file"
        let source = element.elements(forName: "source").first
        var path: String?
        switch type {
        case "file": path = source?.attribute(forName: "file")?.stringValue
        case "block": path = source?.attribute(forName: "dev")?.stringValue
        case "network":
            if let proto = source?.attribute(forName: "protocol")?.stringValue {
                path = proto + ":" + (source?.attribute(forName: "name")?.stringValue ?? "")
            }
        case "volume":
            if let pool = source?.attribute(forName: "pool")?.stringValue {
                path = "volume:" + pool + "/" + (source?.attribute(forName: "volume")?.stringValue ?? "")
            }
        default: path = nil
        }
        return Disk(
            type: type,
            device: element.attribute(forName: "device")?.stringValue ?? "disk",
            source: path,
            target: element.elements(forName: "target").first?.attribute(forName: "dev")?.stringValue
        )
    }

    /// Counts open elements: libxml2's event parser accepts a document that simply stops (a truncated file).
    private final class ElementBalance: NSObject, XMLParserDelegate {
        var depth = 0
        var elements = 0
        var failed = false

        func parser(
            _ parser: XMLParser,
            didStartElement elementName: String,
            namespaceURI: String?,
            qualifiedName qName: String?,
            attributes attributeDict: [String: String] = [:]
        ) {
            depth += 1
            elements += 1
        }

        func parser(
            _ parser: XMLParser,
            didEndElement elementName: String,
            namespaceURI: String?,
            qualifiedName qName: String?
        ) {
            depth -= 1
        }

        func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) { failed = true }
    }

    private static func text(_ element: XMLElement, _ child: String) -> String? {
        element.elements(forName: child).first?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// libvirt's memory units (formatdomain.html#memory-allocation) to MiB.
    static func mebibytes(_ value: Int64, unit: String) -> Int? {
        let factor: Double
        switch unit {
        case "b", "bytes": factor = 1
        case "KB": factor = 1000
        case "k", "KiB": factor = 1024
        case "MB": factor = 1_000_000
        case "M", "MiB": factor = 1_048_576
        case "GB": factor = 1_000_000_000
        case "G", "GiB": factor = 1_073_741_824
        case "TB": factor = 1_000_000_000_000
        case "T", "TiB": factor = 1_099_511_627_776
        default: return nil
        }
        guard value >= 0 else { return nil }
        let mib = Double(value) * factor / 1_048_576
        return mib < Double(Int.max / 2) ? Int(mib.rounded()) : nil
    }
}
