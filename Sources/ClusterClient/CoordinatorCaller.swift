import AsyncHTTPClient
import ClusterAPI
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

/// The one HTTP client both the CLI and the agent reach the coordinators with (SPEC §2, §7).
///
/// Given several coordinator URLs it follows the leader: a standby's 503 `not-leader` names the leader, which is tried
/// next; the coordinator that last answered is tried first the next time. A coordinator that cannot be reached is
/// passed over for the next one. What any other refusal means is the caller's to say: the CLI stops at it (a 404 or
/// 409 is the answer), the agent, whose message must reach some coordinator, tries the next one.
public struct CoordinatorCaller: Sendable {
    /// Which coordinator answered last, shared by every caller made with it (one per process).
    public final class LeaderHint: Sendable {
        let url = Mutex<String?>(nil)
        public init() {}
        public var current: String? { url.withLock { $0 } }
    }

    /// One request, relative to a coordinator's base URL.
    public struct Call: Sendable {
        public var method: HTTPMethod
        /// Starts with `/`; names in it are already encoded with `PathSegment`.
        public var path: String
        public var body: Data?
        public var timeout: TimeAmount
        /// The most of an answer's body that is read.
        public var answerLimit: Int

        public init(
            method: HTTPMethod = .GET,
            path: String,
            body: Data? = nil,
            timeout: TimeAmount,
            answerLimit: Int = 1 << 20
        ) {
            self.method = method
            self.path = path
            self.body = body
            self.timeout = timeout
            self.answerLimit = answerLimit
        }
    }

    /// A coordinator's answer, any status but `not-leader`.
    public struct Answer: Sendable {
        public var status: HTTPResponseStatus
        public var headers: HTTPHeaders
        public var body: Data
        /// The base URL of the coordinator that answered.
        public var from: String

        /// The refusal's code and message, when the answer is one.
        public var refusal: ErrorBody.Detail? {
            (200..<300).contains(status.code) ? nil : (try? JSONDecoder().decode(ErrorBody.self, from: body))?.error
        }
    }

    /// No coordinator gave an answer the caller could use; `message` says why the last one did not.
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        /// The last refusal, when the last coordinator tried answered at all.
        public var refused: Answer?
        public var description: String { message }
    }

    /// What to do with a refusal other than `not-leader`.
    public enum Refusals: Sendable {
        /// Return it: the caller reports it (the CLI).
        case answer
        /// Try the next coordinator; the last refusal is the failure (the agent).
        case tryNext
    }

    public let client: HTTPClient
    public let urls: [String]
    public let token: String?
    public let leader: LeaderHint

    public init(client: HTTPClient, urls: [String], token: String?, leader: LeaderHint = LeaderHint()) {
        self.client = client
        self.urls = urls
        self.token = token
        self.leader = leader
    }

    /// Sends `call` to the leader if known, then to each URL in turn, until one answers.
    ///
    /// `rememberLeader: false` leaves the hint as it was (an answer every coordinator gives, such as to a report, does
    /// not say who leads).
    public func send(
        _ call: Call,
        refusals: Refusals,
        rememberLeader: Bool = true
    ) async throws(Failure) -> Answer {
        var failure = Failure(message: "no coordinator URL configured")
        var queue = urls
        if let known = leader.current { queue.insert(known, at: 0) }
        var tried: Set<String> = []
        while !queue.isEmpty {
            let base = queue.removeFirst()
            guard tried.insert(base).inserted else { continue }
            let answer: Answer
            do {
                answer = try await deliver(call, to: base)
            } catch {
                failure = error
                continue
            }
            if let refusal = answer.refusal {
                if answer.status == .serviceUnavailable, refusal.code == ErrorBody.notLeader {
                    failure = Failure(message: refusal.message, refused: answer)
                    if let next = refusal.leader { queue.insert(next, at: 0) }
                    continue
                }
                if refusals == .tryNext {
                    failure = Failure(
                        message: "\(base) refused \(call.method) \(call.path): \(refusal.code): \(refusal.message)",
                        refused: answer
                    )
                    continue
                }
            } else if !(200..<300).contains(answer.status.code), refusals == .tryNext {
                failure = Failure(
                    message: "\(base) refused \(call.method) \(call.path): HTTP \(answer.status.code)",
                    refused: answer
                )
                continue
            }
            if rememberLeader, (200..<300).contains(answer.status.code) { leader.url.withLock { $0 = base } }
            return answer
        }
        throw failure
    }

    /// Sends `call` to one coordinator, `base`, whatever it answers.
    public func deliver(_ call: Call, to base: String) async throws(Failure) -> Answer {
        var request = HTTPClientRequest(url: base + call.path)
        request.method = call.method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body = call.body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        do {
            let response = try await client.execute(request, timeout: call.timeout)
            let body = try await response.body.collect(upTo: call.answerLimit)
            return Answer(status: response.status, headers: response.headers, body: Data(buffer: body), from: base)
        } catch {
            throw Failure(message: "cannot reach the coordinator at \(base): \(error)")
        }
    }
}
