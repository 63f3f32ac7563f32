import Foundation

/// An etcd failure an administrator can act on.
public struct EtcdError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// No member answered, or none has quorum: writes cannot be made now.
        case unavailable = "etcd-unavailable"
        /// A write reached a member that did not confirm it in time (no quorum, a leader change): it was not
        /// refused, and etcd may still apply it once it has a quorum again.
        case uncertain = "etcd-uncertain"
        /// etcd refused the request (a bad key, a request too large, …).
        case rejected = "etcd-rejected"
        /// The lease or key does not exist.
        case notFound = "etcd-not-found"
        /// The answer was not what etcd 3.4's gateway sends.
        case `protocol` = "etcd-protocol"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// A key with its value and revisions (`modRevision` only grows; a key created anew restarts `version` at 1).
public struct EtcdKeyValue: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64
    public var version: Int64
    public var lease: Int64

    public init(key: String, value: [UInt8], createRevision: Int64, modRevision: Int64, version: Int64, lease: Int64) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }
}

/// A comparison of one key, the building block of a guarded write.
public struct EtcdComparison: Sendable {
    enum Target { case createRevision(Int64), modRevision(Int64), version(Int64), value([UInt8]) }
    let key: String
    let target: Target

    /// The key does not exist (its create revision is 0).
    public static func absent(_ key: String) -> Self { Self(key: key, target: .createRevision(0)) }
    /// The key was created at `revision` (a leader key still held: the election's fencing rule).
    public static func created(_ key: String, at revision: Int64) -> Self {
        Self(key: key, target: .createRevision(revision))
    }
    /// The key was last written at `revision` (nobody changed it since it was read).
    public static func unchanged(_ key: String, since revision: Int64) -> Self {
        Self(key: key, target: .modRevision(revision))
    }
    /// The key holds exactly `value`.
    public static func holds(_ key: String, _ value: [UInt8]) -> Self { Self(key: key, target: .value(value)) }

    var body: [String: Any] {
        var body: [String: Any] = ["key": EtcdClient.base64(key), "result": "EQUAL"]
        switch target {
        case .createRevision(let revision):
            body["target"] = "CREATE"
            body["create_revision"] = String(revision)
        case .modRevision(let revision):
            body["target"] = "MOD"
            body["mod_revision"] = String(revision)
        case .version(let version):
            body["target"] = "VERSION"
            body["version"] = String(version)
        case .value(let value):
            body["target"] = "VALUE"
            body["value"] = Data(value).base64EncodedString()
        }
        return body
    }
}

/// One operation of a transaction's branch.
public enum EtcdOperation: Sendable {
    case put(String, [UInt8], lease: Int64? = nil)
    case delete(String)
    case get(String)

    var body: [String: Any] {
        switch self {
        case .put(let key, let value, let lease):
            var put: [String: Any] = ["key": EtcdClient.base64(key), "value": Data(value).base64EncodedString()]
            if let lease { put["lease"] = String(lease) }
            return ["request_put": put]
        case .delete(let key): return ["request_delete_range": ["key": EtcdClient.base64(key)]]
        case .get(let key): return ["request_range": ["key": EtcdClient.base64(key)]]
        }
    }
}

/// `if every comparison holds { success } else { failure }`, atomically.
public struct EtcdTransaction: Sendable {
    public var compare: [EtcdComparison]
    public var success: [EtcdOperation]
    public var failure: [EtcdOperation]

    public init(compare: [EtcdComparison], success: [EtcdOperation], failure: [EtcdOperation] = []) {
        self.compare = compare
        self.success = success
        self.failure = failure
    }

    var body: [String: Any] {
        ["compare": compare.map(\.body), "success": success.map(\.body), "failure": failure.map(\.body)]
    }
}

public struct EtcdTransactionResult: Sendable {
    public var succeeded: Bool
    /// The store's revision after the transaction.
    public var revision: Int64
    /// What each `get` of the branch that ran found, in order.
    public var ranges: [[EtcdKeyValue]]
}

// MARK: - The gateway's JSON

struct Header: Decodable {
    var revision: String?
    var revisionValue: Int64 { Int64(revision ?? "0") ?? 0 }
}

struct HeaderAnswer: Decodable { var header: Header }

struct WireKeyValue: Decodable {
    var key: String?
    var value: String?
    var createRevision: String?
    var modRevision: String?
    var version: String?
    var lease: String?

    enum CodingKeys: String, CodingKey {
        case key, value, version, lease
        case createRevision = "create_revision"
        case modRevision = "mod_revision"
    }

    func decoded() throws(EtcdError) -> EtcdKeyValue {
        guard let key, let keyData = Data(base64Encoded: key) else { throw EtcdError(.protocol, "a key without a key") }
        guard let valueData = value.map({ Data(base64Encoded: $0) }) ?? Data() else {
            throw EtcdError(.protocol, "a value that is not base64")
        }
        return EtcdKeyValue(
            key: String(decoding: keyData, as: UTF8.self),
            value: Array(valueData),
            createRevision: Int64(createRevision ?? "0") ?? 0,
            modRevision: Int64(modRevision ?? "0") ?? 0,
            version: Int64(version ?? "0") ?? 0,
            lease: Int64(lease ?? "0") ?? 0
        )
    }
}

struct RangeAnswer: Decodable {
    var header: Header
    var kvs: [WireKeyValue]?
    /// More keys are in the range than `limit` let through (omitted when false).
    var more: Bool?
}

/// Decodes every key of a range answer.
func decodedAll(_ kvs: [WireKeyValue]?) throws(EtcdError) -> [EtcdKeyValue] {
    var out: [EtcdKeyValue] = []
    for kv in kvs ?? [] { out.append(try kv.decoded()) }
    return out
}

struct DeleteAnswer: Decodable {
    var header: Header
    var deleted: String?
}

struct TxnAnswer: Decodable {
    struct Response: Decodable {
        var range: RangeAnswerBody?
        enum CodingKeys: String, CodingKey { case range = "response_range" }
    }
    struct RangeAnswerBody: Decodable { var kvs: [WireKeyValue]? }
    var header: Header
    var succeeded: Bool?
    var responses: [Response]?
}

struct LeaseAnswer: Decodable {
    var id: String?
    var ttl: String?
    enum CodingKeys: String, CodingKey {
        case id = "ID"
        case ttl = "TTL"
    }
}

struct KeepAliveAnswer: Decodable {
    struct Result: Decodable {
        var ttl: String?
        enum CodingKeys: String, CodingKey { case ttl = "TTL" }
    }
    var result: Result?
}

struct FailureAnswer: Decodable {
    var error: String?
    var message: String?
    var code: Int?
}
