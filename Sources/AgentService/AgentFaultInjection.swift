import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Test-only crash points of the agent, as `FaultInjection` is the coordinator's.
///
/// With `CHAINKEEPER_AGENT_CRASH_AT=<point>` in its environment, the agent kills itself with SIGKILL when it reaches
/// that point, so tests can prove that an operation finishes (or leaves a consistent state) after the agent died at
/// any step. Points: `checkpoint-apply` (before anything is touched), `checkpoint-merge` (a delete's block job
/// started, not waited for), `checkpoint-applied` (libvirt done, no report or answer yet). Unset (always, in
/// production), it does nothing.
enum AgentFaultInjection {
    static let crashAt = ProcessInfo.processInfo.environment["CHAINKEEPER_AGENT_CRASH_AT"]

    static func reached(_ point: String) {
        guard let crashAt, crashAt == point else { return }
        FileHandle.standardError.write(
            Data("chainkeeperd agent: CHAINKEEPER_AGENT_CRASH_AT=\(point): killing myself\n".utf8)
        )
        kill(getpid(), SIGKILL)
    }
}
