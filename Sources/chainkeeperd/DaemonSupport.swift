import ArgumentParser
import Foundation
import Logging
import ShellHooks

/// What every daemon role does the same way: log to standard error at info, and fail startup with one clear line.
enum DaemonSupport {
    /// Every line escaped (`EscapingLogHandler`): agents' names and paths reach the log.
    static func bootstrapLogging() {
        LoggingSystem.bootstrap { label in
            var handler = EscapingLogHandler(base: StreamLogHandler.standardError(label: label))
            handler.logLevel = .info
            return handler
        }
    }

    /// Raises this process's soft limit on open files to its hard limit (systemd's default soft limit is 1,024, far
    /// below `limits.connections`); returns the limit in force, or `nil` when it cannot be read.
    static func raiseFileDescriptorLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
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
