import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

/// A client for etcd 3.4's v3 API through its HTTP/JSON gateway (`/v3/...`), as docs of issue 8 plan: the small
/// critical state (owners and epochs, the journal, leadership) of a multi-coordinator cluster.
///
/// Keys and values travel base64-encoded; 64-bit numbers arrive as JSON strings; fields that are zero or false are
/// left out of answers. Any member forwards writes to the leader, so the client keeps a list of members and moves to
/// the next on a refused connection or an "unavailable" answer (no quorum, a leader election).
public struct EtcdClient: Sendable {
    public let endpoints: [String]
    let http: HTTPClient
    let timeout: TimeAmount
    /// The member that answered last: asked first next time, so a dead member costs one refused connection once.
    private let preferred = Preferred()

    final class Preferred: Sendable {
        let index = Mutex(0)
    }

    /// The client's own connection pool: a refused connection fails at once (AsyncHTTPClient's default retries it
    /// until the request's deadline, which would spend a lease's worth of time on a dead member).
    public static let defaultHTTP: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(1)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// `timeout` bounds each request to one member; the next member is tried after it.
    public init(endpoints: [String], http: HTTPClient = EtcdClient.defaultHTTP, timeout: Duration = .seconds(5)) {
        self.endpoints = endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.http = http
        let (seconds, attoseconds) = timeout.components
        self.timeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    // MARK: - Keys

    /// The key's current value and revisions, or nil.
    public func get(_ key: String) async throws(EtcdError) -> EtcdKeyValue? {
        let answer: RangeAnswer = try await call("/v3/kv/range", ["key": Self.base64(key)])
        return try decodedAll(answer.kvs).first
    }

    /// Every key that starts with `prefix`, in key order, as of one revision.
    ///
    /// Read in pages of `pageSize` keys, each page at the first page's revision, so a large journal neither exceeds
    /// an answer's size limit nor mixes two moments.
    public func range(prefix: String, pageSize: Int = 1000) async throws(EtcdError) -> [EtcdKeyValue] {
        try await range(prefix: prefix, changedAfter: nil, pageSize: pageSize).keys
    }

    /// The keys under `prefix` written after revision `changedAfter` (every key when nil), and the revision the read
    /// is as of.
    ///
    /// Pass that revision as `changedAfter` next time to read only what changed since. Deleted keys are not reported.
    public func range(
        prefix: String,
        changedAfter: Int64?,
        pageSize: Int = 1000
    ) async throws(EtcdError) -> (keys: [EtcdKeyValue], revision: Int64) {
        let end = Data(Self.prefixEnd(prefix)).base64EncodedString()
        var start = Array(prefix.utf8)
        var revision: Int64?
        var keys: [EtcdKeyValue] = []
        while true {
            var body: [String: Any] = [
                "key": Data(start).base64EncodedString(), "range_end": end, "limit": String(pageSize),
            ]
            if let revision { body["revision"] = String(revision) }
            if let changedAfter { body["min_mod_revision"] = String(changedAfter + 1) }
            let answer: RangeAnswer = try await call("/v3/kv/range", body)
            let asOf = revision ?? answer.header.revisionValue
            revision = asOf
            let page = try decodedAll(answer.kvs)
            keys += page
            guard answer.more == true, let last = page.last else { return (keys, asOf) }
            start = Array(last.key.utf8) + [0]
        }
    }

    /// Writes `value` (attached to `lease` when given); returns the store's revision after the write.
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], lease: Int64? = nil) async throws(EtcdError) -> Int64 {
        var body: [String: Any] = ["key": Self.base64(key), "value": Data(value).base64EncodedString()]
        if let lease { body["lease"] = String(lease) }
        let answer: HeaderAnswer = try await call("/v3/kv/put", body)
        return answer.header.revisionValue
    }

    /// Deletes the key; returns how many keys were deleted (0 or 1).
    @discardableResult
    public func delete(_ key: String) async throws(EtcdError) -> Int {
        let answer: DeleteAnswer = try await call("/v3/kv/deleterange", ["key": Self.base64(key)])
        return Int(answer.deleted ?? "0") ?? 0
    }

    /// One transaction: if every comparison holds, the `success` operations run, else the `failure` ones, atomically.
    public func transaction(_ transaction: EtcdTransaction) async throws(EtcdError) -> EtcdTransactionResult {
        let answer: TxnAnswer = try await call("/v3/kv/txn", transaction.body)
        var ranges: [[EtcdKeyValue]] = []
        for response in answer.responses ?? [] {
            if let range = response.range { ranges.append(try decodedAll(range.kvs)) }
        }
        return EtcdTransactionResult(
            succeeded: answer.succeeded ?? false,
            revision: answer.header.revisionValue,
            ranges: ranges
        )
    }

    // MARK: - Leases

    /// Grants a lease of `ttl` seconds; returns its id.
    public func grantLease(ttl: Int64) async throws(EtcdError) -> Int64 {
        let answer: LeaseAnswer = try await call("/v3/lease/grant", ["TTL": String(ttl)])
        guard let id = answer.id.flatMap({ Int64($0) }) else {
            throw EtcdError(.protocol, "lease grant answered no ID")
        }
        return id
    }

    /// Renews a lease once; returns the seconds it now has left (0 once it expired: its keys are gone).
    public func keepAlive(_ lease: Int64) async throws(EtcdError) -> Int64 {
        let answer: KeepAliveAnswer = try await call("/v3/lease/keepalive", ["ID": String(lease)])
        return Int64(answer.result?.ttl ?? "0") ?? 0
    }

    /// Revokes a lease and deletes its keys; an unknown lease is not an error.
    public func revokeLease(_ lease: Int64) async throws(EtcdError) {
        do {
            let _: HeaderAnswer = try await call("/v3/lease/revoke", ["ID": String(lease)])
        } catch let error where error.code == .notFound {
            return
        }
    }

    // MARK: - Plumbing

    /// POSTs `body` to `path` on the first member that answers, decoding the answer.
    func call<Answer: Decodable>(_ path: String, _ body: [String: Any]) async throws(EtcdError) -> Answer {
        let payload: Data
        do {
            payload = try JSONSerialization.data(withJSONObject: body)
        } catch {
            throw EtcdError(.protocol, "cannot encode a request: \(error)")
        }
        var failures: [String] = []
        // Whether a write may sit in some member's log although no member confirmed it.
        var uncertain = false
        let mutates = Self.mutatingPaths.contains(path)
        let first = preferred.index.withLock { $0 }
        for offset in endpoints.indices {
            let index = (first + offset) % endpoints.count
            let endpoint = endpoints[index]
            var request = HTTPClientRequest(url: endpoint + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: payload))
            let response: HTTPClientResponse
            let bytes: ByteBuffer
            do {
                response = try await http.execute(request, timeout: timeout)
                bytes = try await response.body.collect(upTo: 8 << 20)
            } catch {
                // Refused before a byte was sent, the write was never seen; a timeout once sent may have been.
                if mutates, !Self.neverSent(error) { uncertain = true }
                failures.append("\(endpoint): \(error)")
                continue
            }
            let data = Data(buffer: bytes)
            if response.status == .ok {
                if index != first { preferred.index.withLock { $0 = index } }
                do {
                    return try JSONDecoder().decode(Answer.self, from: data)
                } catch {
                    throw EtcdError(.protocol, "\(path) answered JSON this client cannot read: \(error)")
                }
            }
            let failure = (try? JSONDecoder().decode(FailureAnswer.self, from: data))
            let message = failure?.error ?? failure?.message ?? String(decoding: data.prefix(200), as: UTF8.self)
            // gRPC codes: 14 unavailable (no quorum, election), 4 deadline exceeded: try another member.
            if response.status == .serviceUnavailable || failure?.code == 14 || failure?.code == 4 {
                // "request timed out", "leader changed", a deadline: proposed, not confirmed ("no leader" was not).
                if mutates, failure?.code == 4 || message.contains("timed out") || message.contains("leader changed") {
                    uncertain = true
                }
                failures.append("\(endpoint): \(message)")
                continue
            }
            throw EtcdError(failure?.code == 5 || response.status == .notFound ? .notFound : .rejected, message)
        }
        if uncertain {
            throw EtcdError(
                .uncertain,
                "no etcd member confirmed the write, and it may still be applied once etcd has a quorum again: "
                    + failures.joined(separator: "; ")
            )
        }
        throw EtcdError(.unavailable, "no etcd member answered: " + failures.joined(separator: "; "))
    }

    /// The requests that change keys.
    static let mutatingPaths: Set<String> = ["/v3/kv/put", "/v3/kv/deleterange", "/v3/kv/txn"]

    /// Whether `error` came before the request could have reached the member (no connection was made).
    static func neverSent(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        let text = "\(error)"
        return text.contains("connectionRefused") || text.contains("Connection refused")
            || text.contains("connectTimeout")
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// The end of the key range holding every key that starts with `prefix` (its last byte plus one).
    static func prefixEnd(_ prefix: String) -> [UInt8] {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return [0]
    }
}
