import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Real processes for the tests: the built binaries, free loopback ports, daemons started and stopped with signals,
/// and CLI runs.
///
/// Test support only; never a dependency of the product.
public enum Daemons {
    /// The built `chainkeeperd`, found beside the running test bundle.
    public static var chainkeeperd: String { binary("chainkeeperd") }
    /// The built `chainkeeper`.
    public static var chainkeeper: String { binary("chainkeeper") }

    static func binary(_ name: String) -> String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return ".build/debug/\(name)"
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    public static func freePort() -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A plain HTTP/1.1 GET over a loopback socket; the body of a 200, or nil.
    public static func httpGet(port: Int, path: String) -> String? {
        guard let (status, body) = httpGet(port: port, path: path, headers: [:]), status == 200 else { return nil }
        return String(decoding: body, as: UTF8.self)
    }

    /// A plain HTTP/1.1 GET over a new loopback connection with extra header lines: the status and the body, or nil
    /// when nothing answered.
    public static func httpGet(port: Int, path: String, headers: [String: String]) -> (status: Int, body: [UInt8])? {
        guard let answer = http("GET", port: port, path: path, headers: headers) else { return nil }
        return (answer.status, answer.body)
    }

    /// A plain HTTP/1.1 request over a new loopback connection: the status, the header block and the body, or nil
    /// when nothing answered.
    public static func http(
        _ method: String,
        port: Int,
        path: String,
        headers: [String: String] = [:],
        body: [UInt8] = []
    ) -> (status: Int, headers: String, body: [UInt8])? {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        // A server may answer (413) and stop reading before a large body is sent: give up sending after a while and
        // read its answer.
        var sendTimeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
        var receiveTimeout = timeval(tv_sec: 300, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &receiveTimeout, socklen_t(MemoryLayout<timeval>.size))
        var extra = headers.map { "\($0.key): \($0.value)\r\n" }.joined()
        if method != "GET" { extra += "Content-Length: \(body.count)\r\n" }
        let request =
            Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\(extra)Connection: close\r\n\r\n".utf8)
            + body
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { rest in
                send(socket, rest.baseAddress, rest.count, Int32(MSG_NOSIGNAL))
            }
            if count <= 0 { break }
            sent += count
        }
        guard sent > 0 else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        let separator = Array("\r\n\r\n".utf8)
        guard response.count >= 12, let status = Int(String(decoding: response[9..<12], as: UTF8.self)),
            let split = (0...(response.count - separator.count)).first(where: {
                Array(response[$0..<$0 + separator.count]) == separator
            })
        else { return nil }
        return (
            status, String(decoding: response[0..<split], as: UTF8.self), Array(response[(split + separator.count)...])
        )
    }

    /// Runs a binary to completion on a thread outside the concurrency pool (which may be serving a coordinator).
    public static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]
    ) async throws -> (status: Int32, out: String, err: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    with: Result { try runBlocking(executable, arguments, environment: environment) }
                )
            }
        }
    }

    public static func runBlocking(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]
    ) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.environment = environment
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes concurrently so neither can fill and block the child.
        nonisolated(unsafe) var stderr = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            stderr = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self)
        )
    }
}

/// A daemon process whose standard error goes to a log file, stopped with a real signal.
public final class DaemonProcess: @unchecked Sendable {
    public let process = Process()
    public let logPath: String

    public init(_ executable: String, _ arguments: [String], environment: [String: String], logPath: String) throws {
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.standardError = log
        process.standardOutput = log
        try process.run()
    }

    /// Sends `signal` and waits for the process to exit; returns its status.
    ///
    /// One still running `killAfter` later is killed (SIGKILL), and that is written to its log: a daemon that hangs in
    /// its shutdown fails the test that looks at it, never holds the whole run.
    @discardableResult
    public func stop(_ signal: Int32 = SIGTERM, killAfter: Duration = .seconds(60)) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        let deadline = ContinuousClock.now + killAfter
        while process.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning {
            if let log = FileHandle(forWritingAtPath: logPath) {
                log.seekToEndOfFile()
                log.write(Data("test support: still running \(killAfter) after signal \(signal); killed\n".utf8))
                try? log.close()
            }
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
