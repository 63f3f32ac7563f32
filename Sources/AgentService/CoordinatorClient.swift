import AsyncHTTPClient
import ClusterAPI
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The agent's side of the transport: it opens every connection (SPEC §2), posting heartbeats and reports to the
/// first coordinator that answers.
struct CoordinatorClient: Sendable {
    let client: HTTPClient
    let urls: [String]
    let node: String
    let token: String?

    /// GETs `/v1/agents/{node}/{action}` and returns the answer's body.
    func get(_ action: String, timeout: TimeAmount) async throws(DeliveryError) -> Data {
        try await send(action, body: nil, timeout: timeout)
    }

    /// POSTs `body` to `/v1/agents/{node}/{action}` and returns the answer's body.
    ///
    /// Tries each coordinator in turn; throws the last failure when none accepted it.
    func post(_ action: String, body: Data, timeout: TimeAmount) async throws(DeliveryError) -> Data {
        try await send(action, body: body, timeout: timeout)
    }

    private func send(_ action: String, body: Data?, timeout: TimeAmount) async throws(DeliveryError) -> Data {
        var failure = DeliveryError("no coordinator URL configured")
        for base in urls {
            var request = HTTPClientRequest(url: "\(base)/v1/agents/\(Self.segment(node))/\(action)")
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            if let body {
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(data: body))
            }
            do {
                let response = try await client.execute(request, timeout: timeout)
                let answer = Data(buffer: try await response.body.collect(upTo: 1 << 20))
                guard (200..<300).contains(response.status.code) else {
                    let message =
                        (try? JSONDecoder().decode(ErrorBody.self, from: answer)).map {
                            "\($0.error.code): \($0.error.message)"
                        } ?? "HTTP \(response.status.code)"
                    failure = DeliveryError("\(base) refused the \(action): \(message)")
                    continue
                }
                return answer
            } catch {
                failure = DeliveryError("cannot reach the coordinator at \(base): \(error)")
            }
        }
        throw failure
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
    init(_ message: String) { self.message = message }
    var description: String { message }
}
