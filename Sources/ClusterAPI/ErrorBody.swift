/// Every API error: `{"error":{"code","message"}}` (SPEC §8).
///
/// Never SQL, paths of the server, or traces.
public struct ErrorBody: Codable, Sendable, Hashable {
    public struct Detail: Codable, Sendable, Hashable {
        public var code: String
        public var message: String
        /// With `not-leader`: the URL of the coordinator that leads now, when one does (SPEC §7).
        public var leader: String?
        /// With a 400 for a value out of its bound: the field, as a path into the request (`vms[3].memoryMiB`).
        public var field: String?
    }

    public var error: Detail

    /// A standby's refusal of what only the leader does (503), naming the leader in `leader` (SPEC §7).
    public static let notLeader = "not-leader"

    public init(code: String, message: String, leader: String? = nil, field: String? = nil) {
        error = Detail(code: code, message: message, leader: leader, field: field)
    }
}
