import Foundation
import NIOSSL
import SwiftASN1
import X509

/// Verifies a client certificate chain against the cluster CA with swift-certificates (RFC 5280: signature, validity
/// period, CA constraints), so that a refused certificate is logged on the coordinator's side with its subject and the
/// reason, not only seen by the client as a failed handshake.
public struct ClientCertificateCheck: Sendable {
    let identity: ServerIdentity
    let log: @Sendable (String) -> Void

    /// Checks against `identity`'s current client CA (reloaded with it).
    public init(identity: ServerIdentity, log: @escaping @Sendable (String) -> Void) {
        self.identity = identity
        self.log = log
    }

    /// The handshake's verdict on the presented chain (leaf first).
    public func verify(_ presented: [NIOSSLCertificate]) async -> NIOSSLVerificationResult {
        let now = Date()
        let chain: [Certificate]
        do {
            chain = try presented.map { try Certificate(derEncoded: try $0.toDERBytes()) }
        } catch {
            log("refused a client certificate that cannot be parsed: \(error)")
            return .failed
        }
        guard let leaf = chain.first else { return .failed }
        var verifier = Verifier(rootCertificates: CertificateStore(identity.roots)) { RFC5280Policy() }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(chain.dropFirst()))
        switch result {
        case .validCertificate:
            return .certificateVerified
        case .couldNotValidate(let failures):
            let reasons = failures.map { "\($0.policyFailureReason)" }
            let why =
                leaf.notValidAfter < now
                ? "expired at \(leaf.notValidAfter)"
                : leaf.notValidBefore > now
                    ? "not valid before \(leaf.notValidBefore)"
                    : reasons.isEmpty ? "not issued by the cluster CA" : reasons.joined(separator: "; ")
            log("refused the client certificate of \(leaf.subject) (issuer \(leaf.issuer)): \(why)")
            return .failed
        }
    }
}
