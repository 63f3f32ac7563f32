import ChainModel
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
    /// With a value out of its bound: the field it is in.
    public var field: String?
    /// With `busy` (503) and `throttled` (429): when to try again.
    public var retryAfterSeconds: Int?

    public init(
        _ status: HTTPResponse.Status,
        _ code: String,
        _ message: String,
        leader: String? = nil,
        field: String? = nil,
        retryAfterSeconds: Int? = nil
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.leader = leader
        self.field = field
        self.retryAfterSeconds = retryAfterSeconds
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONEncoder().encode(ErrorBody(code: code, message: message, leader: leader, field: field))
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
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
            ErrorBody.notLeader,
            leader.map { "\(me) is a standby coordinator; send writes to the leader at \($0.url)" }
                ?? "\(me) is a standby coordinator and no coordinator leads right now; retry in a few seconds",
            leader: leader?.url
        )
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad-request", message) }

    /// A value outside its bound (SPEC §8): 400 naming the field.
    static func invalidField(_ error: ReportFieldError, in what: String) -> APIError {
        APIError(.badRequest, "bad-request", "\(what): \(error.field): \(error.message)", field: error.field)
    }

    /// Too much admin work at once (SPEC §8): 503 `busy` with `Retry-After`; never sent to an agent's heartbeat.
    static func busy(_ message: String, retryAfterSeconds: Int = 1) -> APIError {
        APIError(.serviceUnavailable, "busy", message, retryAfterSeconds: retryAfterSeconds)
    }
}
