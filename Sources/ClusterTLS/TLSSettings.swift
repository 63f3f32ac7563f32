import NIOSSL
import SwiftASN1
import X509

/// TLS configurations built from the cluster CA's PEM files (SPEC §2 `tls` keys).
public enum TLSSettings {
    /// An agent's or the CLI's HTTPS: the coordinator verified against `ca` (host name included), and a client
    /// certificate when given.
    public static func client(ca: String, certificate: String?, key: String?) throws(TLSError) -> TLSConfiguration {
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            configuration.certificateVerification = .fullVerification
            configuration.minimumTLSVersion = .tlsv12
            if let certificate, let key {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            return configuration
        } catch {
            throw TLSError("cannot load the TLS files (\(ca), \(certificate ?? "-"), \(key ?? "-")): \(error)")
        }
    }
}

/// Who a verified client certificate names: its role (`node`, `admin`, `server`) and name, from its subject.
public struct CertificateSubject: Hashable, Sendable {
    public var role: String
    public var name: String

    public init?(_ certificate: NIOSSLCertificate) {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else {
            return nil
        }
        var role: String?
        var name: String?
        for rdn in parsed.subject {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.organizationalUnitName { role = String(attribute.value) }
                if attribute.type == .RDNAttributeType.commonName { name = String(attribute.value) }
            }
        }
        guard let role, let name, !name.isEmpty else { return nil }
        self.role = role
        self.name = name
    }
}
