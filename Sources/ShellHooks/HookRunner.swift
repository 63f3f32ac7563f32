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

    /// Runs `command` and waits for it, for at most `timeout`, then about seven seconds more (SIGTERM to its whole
    /// process group, 2 s, SIGKILL, 5 s); the output is read until the shell has exited and for at most a second after.
    ///
    /// Its own process group, so that a timeout stops what the hook started too; and spawned directly, not through
    /// Foundation's `Process`, whose exit is only noticed once every holder of the output pipe has closed it: a child
    /// the hook left running held the caller (a fence, a failover) for as long as that child lived.
    public static func runBlocking(_ command: String, environment: [String: String], timeout: Duration) -> Outcome {
        let process: HookProcess
        do {
            process = try HookProcess(command, environment: environment)
        } catch {
            return Outcome(status: 127, timedOut: false, output: error.message)
        }
        var timedOut = false
        var deadline = ContinuousClock.now + timeout
        var stage = 0
        while !process.hasExited {
            if ContinuousClock.now >= deadline {
                // Past the timeout: the group asked to stop, then killed; one that still has not exited (a process
                // stuck in the kernel) is left to a thread of its own to reap, and the caller goes on.
                timedOut = true
                stage += 1
                guard stage <= 2 else {
                    process.reapLater()
                    return Outcome(status: -1, timedOut: true, output: process.text + "\n(did not exit after SIGKILL)")
                }
                process.signalGroup(stage == 1 ? SIGTERM : SIGKILL)
                deadline = ContinuousClock.now + (stage == 1 ? .seconds(2) : .seconds(5))
            }
            process.readOrWait(upTo: .milliseconds(50))
        }
        // A hook stopped at its timeout goes whole: what it started and that outlived SIGTERM (a child ignoring it)
        // is killed with the shell's group, not left holding its output. The shell is reaped only after that, so the
        // group's id cannot meanwhile have become another process's.
        if timedOut { process.killGroup() }
        process.reap()
        // What it wrote before it exited; a child left behind keeping the output open is not waited for.
        let drained = ContinuousClock.now + .seconds(1)
        while process.outputOpen, ContinuousClock.now < drained { process.readOrWait(upTo: .milliseconds(50)) }
        return Outcome(status: process.status, timedOut: timedOut, output: process.text)
    }
}
