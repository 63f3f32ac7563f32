import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOFoundationCompat

/// What every route group shares: reading a bounded body, answering JSON, naming a decoding error, path parameters.
enum RouteSupport {
    /// The node a path parameter names (percent-encoded by the CLI, as VM names are).
    static func node(_ context: CoordinatorContext) throws -> NodeName {
        let raw = try context.parameters.require("node")
        return NodeName(raw.removingPercentEncoding ?? raw)
    }

    /// A request's body, or 413 `too-large` with the limit when it is larger (the error shape of every route).
    static func body(of request: Request, upTo limit: Int, what: String) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            // Collecting fails only past the limit, or when the client is gone (then no answer reaches it).
            throw APIError(.contentTooLarge, "too-large", "\(what) is limited to \(limit) bytes")
        }
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = try encoder.encode(value)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }

    /// A decoding error without the coordinator's internals.
    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted: "malformed JSON"
        default: "unreadable body"
        }
    }
}

extension Coordinator {
    /// Exactly one VM by id or name, percent-encoded as in a path (404 none, 409 several), read in full.
    func vm(named raw: String) throws -> VM {
        let key = raw.removingPercentEncoding ?? raw
        let vms = try store.vms(matching: key)
        guard let vm = vms.first else { throw APIError.notFound("no VM is named or identified '\(key)'") }
        guard vms.count == 1 else {
            throw APIError(
                .conflict,
                "ambiguous",
                "\(vms.count) VMs are named '\(key)'; use an id: " + vms.map(\.id.rawValue).joined(separator: ", ")
            )
        }
        return vm
    }

    /// `judged` for a key as a path carries it (percent-encoded).
    func judged(percentEncoded raw: String) throws -> (VM, ClusterView) {
        try judged(raw.removingPercentEncoding ?? raw)
    }

    func policyJSON(_ vm: VM, _ policy: PlacementPolicy) throws -> PolicyJSON {
        PolicyJSON(
            vm: vm.name,
            vmId: vm.id.rawValue,
            highlyAvailable: policy.highlyAvailable,
            effectiveHighlyAvailable: policy.highlyAvailable ?? vm.highlyAvailable,
            possibleOwners: policy.possibleOwners.map(\.rawValue),
            preferredOwners: policy.preferredOwners.map(\.rawValue),
            antiAffinityClass: policy.antiAffinityClass,
            antiAffinityEnforced: try policy.antiAffinityClass.flatMap { try store.classEnforced($0) },
            priority: policy.priority.rawValue,
            maxFailovers: policy.threshold.maxFailovers,
            failoverPeriod: DurationText.format(policy.threshold.period),
            isolation: policy.isolation.rawValue,
            checkpointVolume: try policy.checkpointVolume.map { id in
                try store.volumes().first { $0.id == id }?.name ?? id.rawValue
            },
            checkpointVolumeId: policy.checkpointVolume?.rawValue,
            stranded: policy.stranded.rawValue
        )
    }
}

extension StoreError: HTTPResponseError {
    public var status: HTTPResponse.Status { code == .unavailable ? .serviceUnavailable : .conflict }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try APIError(status, code.rawValue, message).response(from: request, context: context)
    }
}
