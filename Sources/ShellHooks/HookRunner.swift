import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs an administrator's hook or the coordinator's fence command (`/bin/sh -c COMMAND`) with the hand-off's environment, killing it at its timeout.
///
/// Hooks must be idempotent (SPEC §2): the coordinator may send the same step again after a restart.
public enum HookRunner {
    public struct Outcome: Sendable {
        public var status: Int32
        public var timedOut: Bool
        /// The hook's last output lines, for the log and the journal.
        public var output: String

        public var succeeded: Bool { status == 0 && !timedOut }
    }

    public static func run(_ command: String, environment: [String: String], timeout: Duration) async -> Outcome {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: runBlocking(command, environment: environment, timeout: timeout))
            }
        }
    }

    public static func runBlocking(_ command: String, environment: [String: String], timeout: Duration) -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            return Outcome(status: 127, timedOut: false, output: "cannot start /bin/sh: \(error.localizedDescription)")
        }
        let finished = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var collected = Data()
        DispatchQueue.global().async {
            collected = output.fileHandleForReading.readDataToEndOfFile()
            finished.signal()
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        var timedOut = false
        if finished.wait(timeout: .now() + seconds) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGTERM)
            if finished.wait(timeout: .now() + 2) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                finished.wait()
            }
        }
        process.waitUntilExit()
        let text = String(decoding: collected.suffix(4096), as: UTF8.self)
        return Outcome(status: process.terminationStatus, timedOut: timedOut, output: text)
    }
}
