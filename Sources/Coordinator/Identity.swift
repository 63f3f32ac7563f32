import Foundation

/// Who is calling: an administrator, or the agent of one node.
public enum Identity: Sendable, Equatable {
    case admin
    case agent(node: String)
}

/// Maps bearer tokens to identities, comparing in constant time.
public struct AccessControl: Sendable {
    let adminTokens: [[UInt8]]
    let agentTokens: [(node: String, token: [UInt8])]

    public init(_ config: CoordinatorConfig) {
        adminTokens = config.adminTokens.map { Array($0.utf8) }
        agentTokens = config.agentTokens.flatMap { node, tokens in tokens.map { (node, Array($0.utf8)) } }
    }

    /// The identity a token proves, or nil.
    ///
    /// Every configured token is compared, so the time taken does not reveal which one (or how much of one) matched.
    public func identify(token: String) -> Identity? {
        let presented = Array(token.utf8)
        var found: Identity?
        for candidate in adminTokens where Self.constantTimeEquals(candidate, presented) { found = .admin }
        for candidate in agentTokens where Self.constantTimeEquals(candidate.token, presented) {
            if found == nil { found = .agent(node: candidate.node) }
        }
        return found
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
