import ArgumentParser
import Foundation
import Logging

/// What every daemon role does the same way: log to standard error at info, and fail startup with one clear line.
enum DaemonSupport {
    static func bootstrapLogging() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
    }

    /// This binary's path, for starting `chainkeeperd watchdog`.
    static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Prints `chainkeeperd: MESSAGE` on standard error; the caller exits 1.
    static func startupFailure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("chainkeeperd: \(message)\n".utf8))
        return ExitCode.failure
    }
}
