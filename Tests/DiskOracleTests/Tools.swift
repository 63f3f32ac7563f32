import Foundation
import Testing

/// Runs the independent readers the disk tests compare against.
///
/// A missing tool fails the test loudly: `scripts/test` installs them (7zip, libvhdi-utils, qemu-utils).
enum Tools {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func locate(_ name: String) -> String? {
        for directory in ["/usr/bin", "/usr/local/bin", "/bin"] {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Runs `tool` with `arguments`; records an issue and returns nil when the tool is not installed.
    static func run(
        _ tool: String,
        _ arguments: [String],
        in directory: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Output? {
        guard let path = locate(tool) else {
            Issue.record(
                "\(tool) is not installed: run scripts/test, which installs 7zip, libvhdi-utils and qemu-utils",
                sourceLocation: sourceLocation
            )
            return nil
        }
        return try run(path: path, arguments, in: directory)
    }

    static func run(path: String, _ arguments: [String], in directory: String? = nil) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self)
        )
    }

    /// The built `chainkeeper` binary, beside the test bundle.
    static var chainkeeper: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("chainkeeper").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return ".build/debug/chainkeeper"
    }

    /// `chainkeeper inspect --json …` decoded.
    static func inspect(_ arguments: [String], in directory: String) throws -> (status: Int32, files: [[String: Any]]) {
        let output = try run(path: chainkeeper, ["inspect", "--json"] + arguments, in: directory)
        let parsed = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]]
        return (output.status, parsed ?? [])
    }

    /// `vhdiinfo FILE` as label → value.
    static func vhdiinfo(_ file: String, in directory: String) throws -> [String: String]? {
        guard let output = try run("vhdiinfo", [file], in: directory) else { return nil }
        var fields: [String: String] = [:]
        for line in output.stdout.split(separator: "\n") where line.hasPrefix("\t") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }
}

/// A fresh directory under the temporary directory, removed when the test ends.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("chainkeeper-disk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
