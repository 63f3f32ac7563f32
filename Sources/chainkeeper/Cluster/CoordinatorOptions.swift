import ArgumentParser
import AsyncHTTPClient
import ClusterAPI
import ClusterClient
import ClusterTLS
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// The options every command that talks to the coordinator takes (SPEC §7).
struct CoordinatorOptions: ParsableArguments {
    @Option(help: "Coordinator URL, or several separated by commas (env CHAINKEEPER_URL).")
    var coordinator: String?

    @Option(help: "Admin token (env CHAINKEEPER_TOKEN).")
    var token: String?

    @Option(help: "The cluster CA to verify an HTTPS coordinator against (env CHAINKEEPER_CA).")
    var ca: String?

    @Option(help: "An admin client certificate (env CHAINKEEPER_CERT).")
    var cert: String?

    @Option(help: "The admin certificate's key (env CHAINKEEPER_KEY).")
    var key: String?

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    /// HTTPS settings from `--ca`, `--cert`, `--key` or their variables; `nil` without a CA.
    func tlsConfiguration() throws -> TLSConfiguration? {
        let environment = ProcessInfo.processInfo.environment
        guard let ca = ca ?? environment["CHAINKEEPER_CA"] else { return nil }
        let certificate = cert ?? environment["CHAINKEEPER_CERT"]
        let key = key ?? environment["CHAINKEEPER_KEY"]
        guard (certificate == nil) == (key == nil) else {
            printError("--cert and --key go together")
            throw ExitCode.failure
        }
        do {
            return try TLSSettings.client(ca: ca, certificate: certificate, key: key)
        } catch {
            printError(error.message)
            throw ExitCode.failure
        }
    }

    var urls: [String] {
        let value = coordinator ?? ProcessInfo.processInfo.environment["CHAINKEEPER_URL"] ?? "http://127.0.0.1:7400"
        return value.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
    }

    var bearer: String? { token ?? ProcessInfo.processInfo.environment["CHAINKEEPER_TOKEN"] }

    /// GETs `path` from the first coordinator that answers and decodes the body.
    ///
    /// A 404 exits 4; any other failure exits 1 with the coordinator's message.
    func get<T: Decodable>(_ path: String, as type: T.Type) async throws -> T {
        try await send(path, body: nil, as: type)
    }

    /// POSTs `body` as JSON to `path` on the first coordinator that answers and decodes the answer.
    ///
    /// `timeout` bounds the whole request: a migration waits for three agent steps.
    func post<T: Decodable>(
        _ path: String,
        body: some Encodable,
        as type: T.Type,
        timeout: TimeAmount = .seconds(60)
    ) async throws -> T {
        try await send(path, body: try JSONEncoder().encode(body), as: type, timeout: timeout)
    }

    /// An administrator's action (`node resume`, `vm clear`, `drain`, …): POST (or DELETE) with an empty body; a 409
    /// refusal is the answer "no" and exits 3 (SPEC §7).
    func act<T: Decodable>(
        _ path: String,
        as type: T.Type,
        method: HTTPMethod = .POST,
        timeout: TimeAmount = .seconds(60)
    ) async throws -> T {
        try await send(path, body: Data("{}".utf8), as: type, timeout: timeout, method: method, conflictIsNo: true)
    }

    /// A request whose answer is a JSON document, with `method`; every refusal (409 too) exits 1, a 404 exits 4.
    func call<T: Decodable>(
        _ path: String,
        body: some Encodable,
        as type: T.Type,
        method: HTTPMethod,
        timeout: TimeAmount
    ) async throws -> T {
        try await send(path, body: try JSONEncoder().encode(body), as: type, timeout: timeout, method: method)
    }

    /// PUTs `body` as JSON to `path` (a setting replaced whole, such as a policy).
    func put<T: Decodable>(_ path: String, body: some Encodable, as type: T.Type) async throws -> T {
        try await send(path, body: try JSONEncoder().encode(body), as: type, method: .PUT)
    }

    private func send<T: Decodable>(
        _ path: String,
        body: Data?,
        as type: T.Type,
        timeout: TimeAmount = .seconds(60),
        method: HTTPMethod = .POST,
        conflictIsNo: Bool = false
    ) async throws -> T {
        // A refused connection should fail at once, not be retried until the request deadline.
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = try tlsConfiguration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let value = try await send(
                path,
                body: body,
                as: type,
                timeout: timeout,
                method: method,
                conflictIsNo: conflictIsNo,
                using: client
            )
            try await client.shutdown()
            return value
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func send<T: Decodable>(
        _ path: String,
        body: Data?,
        as type: T.Type,
        timeout: TimeAmount,
        method: HTTPMethod,
        conflictIsNo: Bool,
        using client: HTTPClient
    ) async throws -> T {
        // A standby answers writes with `not-leader` and the leader's URL: the caller tries the leader next (once),
        // then the rest; any other refusal is the answer.
        let caller = CoordinatorCaller(client: client, urls: urls, token: bearer)
        let call = CoordinatorCaller.Call(
            method: body == nil ? .GET : method,
            path: path,
            body: body,
            timeout: timeout,
            answerLimit: 256 << 20
        )
        let answer: CoordinatorCaller.Answer
        do {
            answer = try await caller.send(call, refusals: .answer)
        } catch {
            printError(error.message)
            throw ExitCode.failure
        }
        if answer.status == .ok, answer.headers.first(name: "Chainkeeper-Role") == "standby" {
            // A standby's answer comes from its copy of the critical state: say how old (stderr, so --json holds).
            let age = answer.headers.first(name: "Chainkeeper-Staleness-Ms").map { "\($0) ms" } ?? "of unknown age"
            printError("note: answered by the standby coordinator at \(answer.from) from a copy \(age) old")
        }
        guard answer.status == .ok else {
            printError(answer.refusal?.message ?? "HTTP \(answer.status.code)")
            if answer.status == .notFound { throw ExitCode(4) }
            throw conflictIsNo && answer.status == .conflict ? ExitCode(3) : ExitCode.failure
        }
        do {
            return try JSONDecoder().decode(T.self, from: answer.body)
        } catch {
            printError("the coordinator at \(answer.from) answered something this CLI cannot read: \(error)")
            throw ExitCode.failure
        }
    }

    /// Prints `value` as JSON when `--json` was given; returns whether it did.
    func printJSON(_ value: some Encodable) throws -> Bool {
        guard json else { return false }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
        return true
    }
}
