import Testing

@testable import Coordinator

/// Bearer tokens looked up by their SHA-256 digest: one lookup whatever the number of nodes, with the same answers the
/// comparison against every digest gave.
@Suite struct AccessControlTests {
    @Test func tokensProveTheirIdentityAndNothingElse() {
        var config = CoordinatorConfig(dataDir: "/nonexistent")
        config.adminTokens = ["admin-token", "sha256:" + AccessControl.fingerprint(of: "hashed-admin-token")]
        for index in 0..<640 { config.agentTokens["node\(index)"] = ["token-\(index)", "token-\(index)-next"] }
        config.agentTokens["node-b"] = ["shared-token"]
        config.agentTokens["node-a"] = ["shared-token"]
        config.agentTokens["node-c"] = ["admin-token"]
        let access = AccessControl(config)

        #expect(access.identify(token: "admin-token") == .admin, "an admin token is an admin's, whatever else")
        #expect(access.identify(token: "hashed-admin-token") == .admin)
        #expect(access.identify(token: "token-0") == .agent(node: "node0"))
        #expect(access.identify(token: "token-639-next") == .agent(node: "node639"))
        #expect(
            access.identify(token: "shared-token") == .agent(node: "node-a"),
            "a shared token proves the first name"
        )
        for wrong in ["", "token-640", "Token-0", "token-0 ", "sha256:" + AccessControl.fingerprint(of: "admin-token")]
        {
            #expect(access.identify(token: wrong) == nil, "\(wrong)")
        }
        let digest = [UInt8](AccessControl.digest(configured: "hashed-admin-token"))
        #expect(access.acceptsAdmin(digest: digest))
        #expect(!access.acceptsAdmin(digest: AccessControl.digest(configured: "token-0")))
    }
}
