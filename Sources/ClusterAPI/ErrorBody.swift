/// Every API error: `{"error":{"code","message"}}` (SPEC §8).
///
/// Never SQL, paths of the server, or traces.
public struct ErrorBody: Codable, Sendable, Hashable {
    public struct Detail: Codable, Sendable, Hashable {
        public var code: String
        public var message: String
    }

    public var error: Detail

    public init(code: String, message: String) { error = Detail(code: code, message: message) }
}
