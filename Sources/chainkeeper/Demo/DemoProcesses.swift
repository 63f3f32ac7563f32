import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The demo's daemons and CLI runs: started as real processes, stopped with real signals.
final class DemoProcesses: Sendable {
    let cli: String
    let daemon: String
    let environment: [String: String]
    private let running = Mutex<[String: Int32]>([:])

    init(cli: String, daemon: String, url: String, token: String) {
        self.cli = cli
        self.daemon = daemon
        var environment = ProcessInfo.processInfo.environment
        environment["CHAINKEEPER_URL"] = url
        environment["CHAINKEEPER_TOKEN"] = token
        for key in ["CHAINKEEPER_CA", "CHAINKEEPER_CERT", "CHAINKEEPER_KEY"] { environment[key] = nil }
        self.environment = environment
    }

    /// The `chainkeeper` binary that is running, and the `chainkeeperd` beside it (or on the PATH).
    static func binaries() throws -> (cli: String, daemon: String) {
        let cli = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let beside = (cli as NSString).deletingLastPathComponent + "/chainkeeperd"
        if FileManager.default.isExecutableFile(atPath: beside) { return (cli, beside) }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/chainkeeperd"
            if FileManager.default.isExecutableFile(atPath: candidate) { return (cli, candidate) }
        }
        throw DemoError(
            "chainkeeperd is not built: `swift build` builds it beside chainkeeper (the demo starts its daemons)"
        )
    }

    /// Starts `chainkeeperd ARGUMENTS` with `extra` in its environment and its output in `log`, under `name`.
    func start(_ name: String, _ arguments: [String], extra: [String: String], log: String) throws {
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: daemon)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try? handle.close()
        running.withLock { $0[name] = process.processIdentifier }
    }

    func pid(_ name: String) -> Int32? { running.withLock { $0[name] } }

    /// Sends `signal` to the process started as `name` and forgets it.
    func signal(_ name: String, _ signal: Int32) {
        guard let pid = running.withLock({ $0.removeValue(forKey: name) }) else { return }
        kill(pid, signal)
    }

    /// Every process still running, by name.
    var all: [String: Int32] { running.withLock { $0 } }

    /// Stops everything with SIGTERM and waits up to 10 s for each.
    func stopAll() {
        let pids = running.withLock { table -> [Int32] in
            defer { table = [:] }
            return Array(table.values)
        }
        for pid in pids { kill(pid, SIGTERM) }
        for pid in pids {
            var status: Int32 = 0
            for _ in 0..<100 {
                if waitpid(pid, &status, WNOHANG) != 0 { break }
                usleep(100_000)
            }
        }
    }

    /// Runs `chainkeeper ARGUMENTS` to completion; its exit status and what it printed.
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cli)
        process.arguments = arguments
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    static func freePort() -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
