import FoundationEssentials

/// What a hypervisor keeps about a VM on the host itself, which a failover needs when that host is dead (issue 23):
/// for libvirt, the persistent domain XML and every snapshot's XML.
///
/// Agents read it, strip secrets from it, and report only its digest with the VM; the coordinator asks for the body
/// when it does not hold that digest (`ReportAnswer.missingMetadata`), keeps it with the VM, and sends it with the
/// adopt command of a migration or failover.
public struct HypervisorMetadata: Codable, Sendable, Hashable {
    /// A snapshot's definition, as `virsh snapshot-create --redefine` takes it.
    public struct Snapshot: Codable, Sendable, Hashable {
        public var name: String
        public var parent: String?
        public var current: Bool
        public var xml: String

        public init(name: String, parent: String?, current: Bool, xml: String) {
            self.name = name
            self.parent = parent
            self.current = current
            self.xml = xml
        }
    }

    /// A libvirt secret the domain refers to (by UUID, or by usage type and id): only its reference, never its value.
    public struct SecretReference: Codable, Sendable, Hashable {
        public var uuid: String?
        public var usageType: String?
        public var usageId: String?

        public init(uuid: String?, usageType: String?, usageId: String?) {
            self.uuid = uuid
            self.usageType = usageType
            self.usageId = usageId
        }

        public var description: String { uuid ?? "\(usageType ?? "?") \(usageId ?? "?")" }
    }

    /// `libvirt`.
    public var driver: String
    /// The persistent definition (for a transient domain, the running one).
    public var domainXML: String
    /// Parents before children.
    public var snapshots: [Snapshot]
    /// The files the domain writes to when the metadata was read: a failover refuses metadata whose leaves are no
    /// longer the VM's (a later snapshot made them backing files).
    public var leaves: [String]
    public var secrets: [SecretReference]

    public init(
        driver: String,
        domainXML: String,
        snapshots: [Snapshot],
        leaves: [String],
        secrets: [SecretReference]
    ) {
        self.driver = driver
        self.domainXML = domainXML
        self.snapshots = snapshots
        self.leaves = leaves
        self.secrets = secrets
    }

    /// At most 4 MiB encoded: a domain with a hundred snapshots is a few hundred KiB.
    public static let maxEncodedBytes = 4 << 20

    /// The canonical encoding (sorted keys): what the digest is taken of.
    public func canonicalEncoding() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// `sha256:` and the hex SHA-256 of the canonical encoding; the shells pass the hash function (swift-crypto's
    /// `SHA256`), keeping this target free of it.
    public static func digest<Hash: Sequence<UInt8>>(of canonical: Data, sha256: (Data) -> Hash) -> String {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var text = "sha256:"
        for byte in sha256(canonical) {
            text.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
            text.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0x0f)]))
        }
        return text
    }

    /// The digest of this metadata, or `nil` if it cannot be encoded.
    public func digest<Hash: Sequence<UInt8>>(sha256: (Data) -> Hash) -> String? {
        (try? canonicalEncoding()).map { Self.digest(of: $0, sha256: sha256) }
    }

    /// Whether `text` has a digest's shape.
    public static func isDigest(_ text: String) -> Bool {
        let hex = text.utf8.dropFirst(7)
        return text.hasPrefix("sha256:") && hex.count == 64
            && hex.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// An agent's upload of the metadata a coordinator asked for (`POST /v1/agents/{node}/metadata`).
public struct MetadataUpload: Codable, Sendable, Hashable {
    public struct Entry: Codable, Sendable, Hashable {
        public var vmId: String
        public var metadata: HypervisorMetadata

        public init(vmId: String, metadata: HypervisorMetadata) {
            self.vmId = vmId
            self.metadata = metadata
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }
}

/// What `vm show --json` says about the metadata the coordinator holds for a VM (`hypervisorMetadata`).
public struct MetadataStatusJSON: Codable, Sendable, Hashable {
    /// Whether the coordinator holds the body of the digest the owner last reported.
    public var held: Bool
    /// The digest the owner last reported.
    public var reportedDigest: String
    /// The digest of the body held, if any (older than `reportedDigest` while an upload is due).
    public var heldDigest: String?
    /// When the held body arrived (ISO 8601), and its age in seconds.
    public var heldSince: String?
    public var ageSeconds: Int64?
    public var snapshots: Int?

    public init(
        held: Bool,
        reportedDigest: String,
        heldDigest: String?,
        heldSince: String?,
        ageSeconds: Int64?,
        snapshots: Int?
    ) {
        self.held = held
        self.reportedDigest = reportedDigest
        self.heldDigest = heldDigest
        self.heldSince = heldSince
        self.ageSeconds = ageSeconds
        self.snapshots = snapshots
    }
}

/// The answer to a metadata upload: how many bodies were kept, and why the others were not.
public struct MetadataUploadAnswer: Codable, Sendable, Hashable {
    public struct Refusal: Codable, Sendable, Hashable {
        public var vmId: String
        public var reason: String

        public init(vmId: String, reason: String) {
            self.vmId = vmId
            self.reason = reason
        }
    }

    public var held: Int
    public var refused: [Refusal]

    public init(held: Int, refused: [Refusal]) {
        self.held = held
        self.refused = refused
    }
}
