/// A coordinator that can lead: its name and the URL admins and agents are sent to.
public struct LeaderInfo: Sendable, Hashable, Codable {
    public var name: String
    public var url: String

    public init(name: String, url: String) {
        self.name = name
        self.url = url
    }
}

/// One term of leadership: who holds it, and the token every guarded write carries.
///
/// Tokens only grow (an etcd leader key's create revision, or the embedded store's counter), so a write made with an
/// earlier term's token is refused with `not-leader`.
public struct LeaderTerm: Sendable, Hashable {
    public var leader: LeaderInfo
    public var token: Int64

    public init(leader: LeaderInfo, token: Int64) {
        self.leader = leader
        self.token = token
    }
}
