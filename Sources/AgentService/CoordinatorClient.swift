import AsyncHTTPClient
import ClusterAPI
import ClusterClient
import Foundation
import NIOCore
import NIOHTTP1

/// The agent's side of the transport: it opens every connection (SPEC §2), posting heartbeats and reports to the
/// first coordinator that answers, through the `CoordinatorCaller` the CLI uses too.
///
/// With several coordinators (issue 8) it follows the leader, and any refusal sends the message on to the next
/// coordinator: a message must reach one. Reports also go to every other coordinator, best effort, since each keeps
/// its own copy of what reports describe.
struct CoordinatorClient: Sendable {
    let caller: CoordinatorCaller
    let node: String

    init(client: HTTPClient, urls: [String], node: String, token: String?, leader: CoordinatorCaller.LeaderHint) {
        caller = CoordinatorCaller(client: client, urls: urls, token: token, leader: leader)
        self.node = node
    }

    /// GETs `/v1/agents/{node}/{action}` and returns the answer's body.
    func get(_ action: String, timeout: TimeAmount) async throws(DeliveryError) -> Data {
        try await send(call(action, body: nil, timeout: timeout)).body
    }

    /// POSTs `body` to `/v1/agents/{node}/{action}` and returns the answer's body.
    ///
    /// Tries each coordinator in turn; throws the last failure when none accepted it.
    func post(_ action: String, body: Data, timeout: TimeAmount) async throws(DeliveryError) -> Data {
        try await send(call(action, body: body, timeout: timeout)).body
    }

    /// POSTs `body` to the leader as `post` does, then to every other coordinator without waiting or failing; their
    /// answers go to `others` as they come.
    func postEverywhere(
        _ action: String,
        body: Data,
        timeout: TimeAmount,
        others: @escaping @Sendable (Data) -> Void = { _ in }
    ) async throws(DeliveryError) -> Data {
        // A standby takes reports too, so the answer does not say who leads: the hint is left as it was.
        let call = call(action, body: body, timeout: timeout)
        let answer = try await send(call, rememberLeader: false)
        for base in caller.urls where base != answer.from {
            let caller = self.caller
            Task {
                if let other = try? await caller.deliver(call, to: base) { others(other.body) }
            }
        }
        return answer.body
    }

    private func call(_ action: String, body: Data?, timeout: TimeAmount) -> CoordinatorCaller.Call {
        CoordinatorCaller.Call(
            method: body == nil ? .GET : .POST,
            path: "/v1/agents/\(PathSegment.encode(node))/\(action)",
            body: body,
            timeout: timeout
        )
    }

    private func send(
        _ call: CoordinatorCaller.Call,
        rememberLeader: Bool = true
    ) async throws(DeliveryError) -> CoordinatorCaller.Answer {
        do {
            return try await caller.send(call, refusals: .tryNext, rememberLeader: rememberLeader)
        } catch {
            throw DeliveryError(error.message)
        }
    }
}

/// A message that did not reach any coordinator; it stays in the outbox.
struct DeliveryError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
