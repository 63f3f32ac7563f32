import AsyncHTTPClient
import ClusterAPI
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

/// The agent's side of the transport: it opens every connection (SPEC §2), posting heartbeats and reports to the
/// first coordinator that answers.
///
/// With several coordinators (issue 8) it follows the leader: a standby's `not-leader` answer names the leader, which
/// is tried next and then first until it stops answering. Reports also go to every other coordinator, best effort,
/// since each keeps its own copy of what reports describe.
struct CoordinatorClient: Sendable {
    let client: HTTPClient
    let urls: [String]
    let node: String
    let token: String?
    /// The coordinator that last accepted a message, shared by every client the agent makes.
    let leader: LeaderHint

    final class LeaderHint: Sendable {
        let url = Mutex<String?>(nil)
    }

    /// GETs `/v1/agents/{node}/{action}` and returns the answer's body.
    func get(_ action: String, timeout: TimeAmount) async throws(DeliveryError) -> Data {
        try await send(action, body: nil, timeout: timeout).answer
    }

    /// POSTs `body` to `/v1/agents/{node}/{action}` and returns the answer's body.
    ///
    /// Tries each coordinator in turn; throws the last failure when none accepted it.
    func post(_ action: String, body: Data, timeout: TimeAmount) async throws(DeliveryError) -> Data {
        try await send(action, body: body, timeout: timeout).answer
    }

    /// POSTs `body` to the leader as `post` does, then to every other coordinator without waiting or failing.
    func postEverywhere(_ action: String, body: Data, timeout: TimeAmount) async throws(DeliveryError) -> Data {
        // A standby takes reports too, so the answer does not say who leads: the hint is left as it was.
        let (answer, answered) = try await send(action, body: body, timeout: timeout, remember: false)
        for base in urls where base != answered {
            let client = self
            Task { _ = try? await client.deliver(action, body: body, timeout: timeout, to: base) }
        }
        return answer
    }

    private func send(
        _ action: String,
        body: Data?,
        timeout: TimeAmount,
        remember: Bool = true
    ) async throws(DeliveryError) -> (answer: Data, from: String) {
        var failure = DeliveryError("no coordinator URL configured")
        var queue = urls
        if let known = leader.url.withLock({ $0 }) { queue.insert(known, at: 0) }
        var tried: Set<String> = []
        while !queue.isEmpty {
            let base = queue.removeFirst()
            guard tried.insert(base).inserted else { continue }
            do {
                let answer = try await deliver(action, body: body, timeout: timeout, to: base)
                if remember { leader.url.withLock { $0 = base } }
                return (answer, base)
            } catch {
                failure = error
                if let next = error.leader { queue.insert(next, at: 0) }
            }
        }
        throw failure
    }

    private func deliver(
        _ action: String,
        body: Data?,
        timeout: TimeAmount,
        to base: String
    ) async throws(DeliveryError) -> Data {
        var request = HTTPClientRequest(url: "\(base)/v1/agents/\(Self.segment(node))/\(action)")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response: HTTPClientResponse
        let answer: Data
        do {
            response = try await client.execute(request, timeout: timeout)
            answer = Data(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch {
            throw DeliveryError("cannot reach the coordinator at \(base): \(error)")
        }
        guard (200..<300).contains(response.status.code) else {
            let refusal = try? JSONDecoder().decode(ErrorBody.self, from: answer)
            let message = refusal.map { "\($0.error.code): \($0.error.message)" } ?? "HTTP \(response.status.code)"
            var error = DeliveryError("\(base) refused the \(action): \(message)")
            if refusal?.error.code == "not-leader" { error.leader = refusal?.error.leader }
            throw error
        }
        return answer
    }

    static func segment(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// A message that did not reach any coordinator; it stays in the outbox.
struct DeliveryError: Error, CustomStringConvertible {
    var message: String
    /// A standby's answer: where the leader is.
    var leader: String?
    init(_ message: String) { self.message = message }
    var description: String { message }
}
