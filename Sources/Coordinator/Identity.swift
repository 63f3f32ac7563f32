import Crypto
import Foundation
import Synchronization

/// Who is calling: an administrator, or the agent of one node.
public enum Identity: Sendable, Equatable {
    case admin
    case agent(node: String)
}

/// Maps bearer tokens to identities (SPEC §2): tokens are kept as SHA-256 digests (a config may give them as
/// `sha256:HEX`, see `chainkeeper token hash`), and a presented token is hashed and looked up by its digest.
///
/// A lookup by digest takes time that depends on the presented token's digest, never on how much of a configured
/// token it matches: a caller cannot choose a token whose SHA-256 shares a prefix with a configured one, so timing
/// reveals nothing to guess with. Comparing against every digest in turn, as before, cost 641 comparisons per request
/// at 640 nodes: 7 % of the coordinator's CPU during a failover (docs/benchmarks.md).
public struct AccessControl: Sendable {
    private let identities: [[UInt8]: Identity]

    public init(_ config: CoordinatorConfig) {
        var identities: [[UInt8]: Identity] = [:]
        // A token configured for two nodes proves the first by name; an admin token is an admin's whatever else.
        for (node, tokens) in config.agentTokens.sorted(by: { $0.key > $1.key }) {
            for token in tokens { identities[Self.digest(configured: token)] = .agent(node: node) }
        }
        for token in config.adminTokens { identities[Self.digest(configured: token)] = .admin }
        self.identities = identities
    }

    /// A configured token's digest: the `sha256:` form decoded, or the plain token hashed.
    static func digest(configured token: String) -> [UInt8] {
        if token.hasPrefix("sha256:") {
            let hex = Array(token.utf8.dropFirst(7))
            if hex.count == 64 {
                var bytes: [UInt8] = []
                for index in stride(from: 0, to: 64, by: 2) {
                    guard let byte = UInt8(String(decoding: hex[index..<index + 2], as: UTF8.self), radix: 16) else {
                        break
                    }
                    bytes.append(byte)
                }
                if bytes.count == 32 { return bytes }
            }
        }
        return Array(SHA256.hash(data: Data(token.utf8)))
    }

    /// The identity a token proves, or nil.
    public func identify(token: String) -> Identity? {
        identities[Array(SHA256.hash(data: Data(token.utf8)))]
    }

    /// The digest of `token` when it is an admin token (what a dashboard session remembers), else nil.
    public func adminDigest(of token: String) -> [UInt8]? {
        guard identify(token: token) == .admin else { return nil }
        return Array(SHA256.hash(data: Data(token.utf8)))
    }

    /// The tokens the example configs in `deploy/examples` publish (`secret` is the one coordinator-tls.yaml gives as a
    /// digest): a coordinator that accepts one warns at start.
    static let exampleTokens = [
        "change-me-admin-token", "change-me-node1-token", "change-me-node2-token", "change-me-node3-token",
        "change-me-node3-token-next", "secret",
    ]

    /// The configured tokens (plain or `sha256:`) that are published example tokens, as the keys that hold them.
    public static func exampleTokensIn(_ config: CoordinatorConfig) -> [String] {
        let published = Set(exampleTokens.map { digest(configured: $0) })
        func isExample(_ token: String) -> Bool {
            token.hasPrefix("change-me") || published.contains(digest(configured: token))
        }
        var keys: [String] = []
        if config.adminTokens.contains(where: isExample) { keys.append("adminTokens") }
        for (node, tokens) in config.agentTokens.sorted(by: { $0.key < $1.key }) where tokens.contains(where: isExample)
        {
            keys.append("agentTokens.\(node)")
        }
        return keys
    }

    /// A presented token's SHA-256 in hex: names the credential without keeping the token.
    public static func fingerprint(of token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether the admin token with this digest is still configured.
    public func acceptsAdmin(digest: [UInt8]) -> Bool { identities[digest] == .admin }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}

/// The current `AccessControl`, swapped whole on reload.
final class AccessHolder: Sendable {
    private let current: Mutex<AccessControl>

    init(_ access: AccessControl) { current = Mutex(access) }

    var access: AccessControl { current.withLock { $0 } }

    func replace(_ access: AccessControl) { current.withLock { $0 = access } }
}
