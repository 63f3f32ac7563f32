import ClusterAPI
import ClusterStore
import Foundation
import HTTPTypes
import Hummingbird

/// An API refusal: HTTP status plus `{"error":{"code","message"}}`.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// With `not-leader`: where the leader is.
    public var leader: String?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, leader: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.leader = leader
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONEncoder().encode(ErrorBody(code: code, message: message, leader: leader))
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let leader, let name = HTTPField.Name("Chainkeeper-Leader") { headers[name] = leader }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func unauthorized(_ message: String) -> APIError { APIError(.unauthorized, "unauthorized", message) }
    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, "forbidden", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not-found", message) }
    /// A write sent to a standby (or to a leader that just lost its term): 503 with the leader's URL, never proxied.
    static func notLeader(_ leader: LeaderInfo?, me: String) -> APIError {
        APIError(
            .serviceUnavailable,
            "not-leader",
            leader.map { "\(me) is a standby coordinator; send writes to the leader at \($0.url)" }
                ?? "\(me) is a standby coordinator and no coordinator leads right now; retry in a few seconds",
            leader: leader?.url
        )
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad-request", message) }
}
