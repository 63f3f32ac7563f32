import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Test-only crash points.
///
/// With `CHAINKEEPERD_CRASH_AFTER=<journal state>` in its environment, the coordinator kills itself with SIGKILL right
/// after journaling that state, so tests can prove recovery from every step with a real process and a real signal.
/// Unset (always, in production), it does nothing.
enum FaultInjection {
    static let crashAfter = ProcessInfo.processInfo.environment["CHAINKEEPERD_CRASH_AFTER"]

    static func journaled(_ state: String) {
        guard let crashAfter, crashAfter == state else { return }
        FileHandle.standardError.write(Data("chainkeeperd: CHAINKEEPERD_CRASH_AFTER=\(state): killing myself\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
