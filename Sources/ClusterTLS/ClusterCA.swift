import Crypto
import Foundation
import SwiftASN1
import X509

/// The cluster's certificate authority (SPEC §7 `ca init`, `ca issue`), with swift-certificates and swift-crypto.
///
/// Every certificate carries its role in the subject: `O=Chainkeeper, OU=node|admin|server, CN=NAME`. A node
/// certificate authenticates that node's agent and nothing else; an admin certificate an administrator; a server
/// certificate a coordinator, for the host names and addresses in its subject alternative names. Keys are P-256.
public enum ClusterCA {
    /// What a certificate is for.
    public enum Role: Hashable, Sendable {
        case node(String)
        case admin(String)
        case server(hosts: [String])

        var unit: String {
            switch self {
            case .node: "node"
            case .admin: "admin"
            case .server: "server"
            }
        }

        /// The file name and the subject's common name.
        public var name: String {
            switch self {
            case .node(let name), .admin(let name): name
            case .server(let hosts): hosts.first ?? "server"
            }
        }
    }

    public static let caLifetime: TimeInterval = 10 * 365 * 86_400
    public static let leafLifetime: TimeInterval = 365 * 86_400

    /// Writes `DIR/ca.crt` and `DIR/ca.key` (mode 0600); refuses to replace an existing CA.
    public static func initialize(in directory: String, now: Date = Date()) throws(TLSError) {
        let certificatePath = directory + "/ca.crt"
        let keyPath = directory + "/ca.key"
        guard !FileManager.default.fileExists(atPath: certificatePath),
            !FileManager.default.fileExists(atPath: keyPath)
        else {
            throw TLSError("\(directory) already holds a CA; remove ca.crt and ca.key first to make a new one")
        }
        let key = P256.Signing.PrivateKey()
        do {
            let name = try DistinguishedName {
                OrganizationName("Chainkeeper")
                CommonName("Chainkeeper cluster CA")
            }
            let certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: .init(key.publicKey),
                notValidBefore: now.addingTimeInterval(-300),
                notValidAfter: now.addingTimeInterval(caLifetime),
                issuer: name,
                subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: .init(key.publicKey))
                },
                issuerPrivateKey: .init(key)
            )
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try write(key.pemRepresentation, to: keyPath, secret: true)
            try write(try certificate.serializeAsPEM().pemString, to: certificatePath, secret: false)
        } catch let error as TLSError {
            throw error
        } catch {
            throw TLSError("cannot create the CA in \(directory): \(error)")
        }
    }

    /// Issues `OUT/NAME.crt` and `OUT/NAME.key` signed by the CA in `directory`; returns the certificate's path.
    @discardableResult
    public static func issue(
        _ role: Role,
        caDirectory directory: String,
        out: String,
        now: Date = Date(),
        lifetime: TimeInterval = leafLifetime
    ) throws(TLSError) -> String {
        let (caCertificate, caKey) = try loadCA(directory)
        if case .server(let hosts) = role, hosts.isEmpty { throw TLSError("--server needs at least one host") }
        guard !role.name.isEmpty, !role.name.contains("/"), role.name != ".", role.name != ".." else {
            throw TLSError("'\(role.name)' cannot name a certificate file")
        }
        let key = P256.Signing.PrivateKey()
        do {
            let subject = try DistinguishedName {
                OrganizationName("Chainkeeper")
                OrganizationalUnitName(role.unit)
                CommonName(role.name)
            }
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage(role.unit == "server" ? [.serverAuth] : [.clientAuth])
                AuthorityKeyIdentifier(keyIdentifier: try caCertificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                SubjectAlternativeNames(alternativeNames(role))
            }
            let certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: .init(key.publicKey),
                notValidBefore: now.addingTimeInterval(-300),
                notValidAfter: now.addingTimeInterval(lifetime),
                issuer: caCertificate.subject,
                subject: subject,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: extensions,
                issuerPrivateKey: caKey
            )
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let base = out + "/" + role.name
            try write(key.pemRepresentation, to: base + ".key", secret: true)
            try write(try certificate.serializeAsPEM().pemString, to: base + ".crt", secret: false)
            return base + ".crt"
        } catch let error as TLSError {
            throw error
        } catch {
            throw TLSError("cannot issue a certificate for \(role.name): \(error)")
        }
    }

    static func alternativeNames(_ role: Role) -> [GeneralName] {
        guard case .server(let hosts) = role else { return [.dnsName(role.name)] }
        return hosts.map { host in
            if let address = IPv4Address(host) { return .ipAddress(ASN1OctetString(contentBytes: address.bytes[...])) }
            return .dnsName(host)
        }
    }

    static func loadCA(_ directory: String) throws(TLSError) -> (Certificate, Certificate.PrivateKey) {
        for file in ["ca.crt", "ca.key"] where !FileManager.default.isReadableFile(atPath: directory + "/" + file) {
            throw TLSError(
                "\(directory)/\(file) is missing or unreadable; create a CA with `chainkeeper ca init \(directory)`"
            )
        }
        do {
            let certificate = try Certificate(
                pemEncoded: try String(contentsOfFile: directory + "/ca.crt", encoding: .utf8)
            )
            let key = try Certificate.PrivateKey(
                pemEncoded: try String(contentsOfFile: directory + "/ca.key", encoding: .utf8)
            )
            return (certificate, key)
        } catch {
            throw TLSError("the CA in \(directory) (ca.crt and ca.key) is not PEM this tool wrote: \(error)")
        }
    }

    private static func write(_ text: String, to path: String, secret: Bool) throws {
        // PEM files end with a newline, so that bundles can be made with `cat`.
        let content = text.hasSuffix("\n") ? text : text + "\n"
        guard
            FileManager.default.createFile(
                atPath: path,
                contents: Data(content.utf8),
                attributes: [.posixPermissions: secret ? 0o600 : 0o644]
            )
        else { throw TLSError("cannot write \(path)") }
    }
}

/// A dotted IPv4 address.
struct IPv4Address {
    var bytes: [UInt8]

    init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        self.bytes = bytes
    }
}

/// A TLS setup that cannot be used, with what to fix.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
