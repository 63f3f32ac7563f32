import NIOCore
import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// The coordinator's TLS material, reloadable without a restart (SIGHUP): the server certificate and key offered in
/// each handshake, and the CA that client certificates must chain to.
///
/// Hummingbird builds its TLS context once; the context's per-handshake callback (`sslContextCallback`) hands out the
/// current certificate and key, and `ClientCertificateCheck` reads the current roots, so a reload applies to every new
/// connection.
public final class ServerIdentity: Sendable {
    struct Material: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var roots: [Certificate]
    }

    private let material: Mutex<Material>

    public init(certificate: String, key: String, clientCA: String) throws(TLSError) {
        material = Mutex(try Self.load(certificate: certificate, key: key, clientCA: clientCA))
    }

    /// Reads the files again; on any error the running material stays and the error is thrown.
    public func reload(certificate: String, key: String, clientCA: String) throws(TLSError) {
        let fresh = try Self.load(certificate: certificate, key: key, clientCA: clientCA)
        material.withLock { $0 = fresh }
    }

    var roots: [Certificate] { material.withLock { $0.roots } }

    /// The TLS configuration for the server: optional client certificates, the current certificate per handshake.
    public func configuration() -> TLSConfiguration {
        let current = material.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: current.chain.map { .certificate($0) },
            privateKey: .privateKey(current.key)
        )
        configuration.trustRoots = .certificates(
            current.roots.compactMap { try? NIOSSLCertificate(bytes: try $0.derBytes(), format: .der) }
        )
        configuration.certificateVerification = .optionalVerification
        configuration.minimumTLSVersion = .tlsv12
        configuration.sslContextCallback = { [self] _, promise in
            let now = self.material.withLock { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = now.chain.map { .certificate($0) }
            override.privateKey = .privateKey(now.key)
            promise.succeed(override)
        }
        return configuration
    }

    static func load(certificate: String, key: String, clientCA: String) throws(TLSError) -> Material {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate)
            let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            let roots = try NIOSSLCertificate.fromPEMFile(clientCA).map {
                try Certificate(derEncoded: try $0.toDERBytes())
            }
            guard !chain.isEmpty, !roots.isEmpty else { throw TLSError("a certificate file holds no certificate") }
            return Material(chain: chain, key: privateKey, roots: roots)
        } catch let error as TLSError {
            throw error
        } catch {
            throw TLSError("cannot load the TLS files (\(certificate), \(key), \(clientCA)): \(error)")
        }
    }
}

extension Certificate {
    /// The DER encoding.
    func derBytes() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}
