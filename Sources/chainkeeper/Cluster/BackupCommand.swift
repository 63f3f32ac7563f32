import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// `chainkeeper backup FILE` (SPEC §7): a consistent copy of the coordinator's database, taken online.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent copy of the coordinator's database to FILE (taken while it serves).",
        discussion: """
            Restore: stop the coordinator, replace DATA_DIR/cluster.sqlite with the copy (remove cluster.sqlite-wal and \
            cluster.sqlite-shm), start it. Agents then report again, and a VM whose agent holds a higher epoch than \
            the copy becomes that agent's (docs/operations.md).
            """
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "Where to write the copy; must not exist.") var file: String

    func run() async throws {
        guard !FileManager.default.fileExists(atPath: file) else {
            printError("\(file) already exists; a backup never overwrites a file")
            throw ExitCode.failure
        }
        let partial = file + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        guard FileManager.default.createFile(atPath: partial, contents: nil),
            let out = FileHandle(forWritingAtPath: partial)
        else {
            printError("cannot write \(partial)")
            throw ExitCode.failure
        }
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = try options.tlsConfiguration()
        configuration.timeout.connect = .seconds(5)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var written = 0
        var failure: String?
        for base in options.urls {
            var request = HTTPClientRequest(url: base + "/v1/backup")
            if let bearer = options.bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
            do {
                let response = try await client.execute(request, timeout: .hours(1))
                guard response.status == .ok else {
                    let body = try await response.body.collect(upTo: 1 << 20)
                    failure =
                        (try? JSONDecoder().decode(ErrorBodyShape.self, from: Data(buffer: body)))?.error.message
                        ?? "HTTP \(response.status.code)"
                    break
                }
                for try await chunk in response.body {
                    out.write(Data(buffer: chunk))
                    written += chunk.readableBytes
                }
                failure = nil
                break
            } catch {
                failure = "cannot reach the coordinator at \(base): \(error)"
            }
        }
        try? await client.shutdown()
        try? out.synchronize()
        try? out.close()
        if let failure {
            try? FileManager.default.removeItem(atPath: partial)
            printError(failure)
            throw ExitCode.failure
        }
        let header = FileHandle(forReadingAtPath: partial).flatMap { try? $0.read(upToCount: 16) } ?? Data()
        guard header == Data("SQLite format 3\u{0}".utf8) else {
            try? FileManager.default.removeItem(atPath: partial)
            printError("the coordinator sent something that is not an SQLite database")
            throw ExitCode.failure
        }
        try FileManager.default.moveItem(atPath: partial, toPath: file)
        print("backup written: \(file) (\(written) bytes)")
    }
}

/// `{"error":{"code","message"}}`.
private struct ErrorBodyShape: Decodable {
    struct Detail: Decodable { var message: String }
    var error: Detail
}
