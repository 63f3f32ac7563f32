import Foundation
import ShellHooks
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Hooks and the fence command run through `HookRunner`: whatever the command does, its caller gets an outcome back
/// within the timeout and a few seconds, never later.
@Suite struct HookRunnerTests {
    @Test func aHookIsAnsweredWithItsStatusAndItsLastOutput() {
        let outcome = HookRunner.runBlocking(
            "echo \"$CK_WORD\"; echo to-stderr >&2; exit 3",
            environment: ["CK_WORD": "hello"],
            timeout: .seconds(10)
        )
        #expect(outcome.status == 3)
        #expect(!outcome.timedOut)
        #expect(outcome.output.contains("hello") && outcome.output.contains("to-stderr"))
    }

    /// Past the timeout the hook's whole process group is stopped, the child it started with it.
    ///
    /// A hook that left a child behind holding its output open (`sleep 60` outlived the killed shell) once held its
    /// caller until that child ended: a fence command could hold a failover for as long as it liked.
    @Test func aHookPastItsTimeoutIsStoppedWithWhatItStarted() throws {
        let (outcome, took, child) = try Self.run(timeout: .seconds(1)) { "sleep 60 & echo $! > \($0); sleep 60" }
        #expect(outcome.timedOut)
        #expect(!outcome.succeeded)
        #expect(outcome.output.contains("started"))
        // 1 s of timeout, at most 2 s after SIGTERM and 5 s after SIGKILL: never the child's 60 s.
        #expect(took < .seconds(9), "the caller got its outcome after \(took)")
        #expect(Self.gone(child), "the child the hook started was stopped with it")
    }

    /// A child that ignores SIGTERM does not outlive its hook's timeout either: the group is killed once the shell has
    /// gone.
    @Test func aChildIgnoringSIGTERMIsKilledWithItsHook() throws {
        let (outcome, took, child) = try Self.run(timeout: .seconds(1)) {
            "(trap '' TERM; sleep 60) & echo $! > \($0); sleep 60"
        }
        #expect(outcome.timedOut)
        #expect(took < .seconds(9), "the caller got its outcome after \(took)")
        #expect(Self.gone(child), "the child that ignored SIGTERM was killed with its hook")
    }

    /// A hook that starts something in the background and exits is done when it exits: what it started is its own
    /// business, and keeps running.
    @Test func aHookThatExitsIsDoneThoughAChildItStartedStillRuns() throws {
        let (outcome, took, child) = try Self.run(timeout: .seconds(30)) { "sleep 60 & echo $! > \($0); exit 0" }
        defer { kill(child, SIGKILL) }
        #expect(outcome.succeeded)
        #expect(outcome.output.contains("started"))
        #expect(took < .seconds(5), "the caller got its outcome after \(took)")
        #expect(!Self.gone(child), "the child still runs")
    }

    /// Runs the hook `script(file)` after an `echo started`; it writes the pid of the child it starts into `file`.
    static func run(
        timeout: Duration,
        _ script: (String) -> String
    ) throws -> (outcome: HookRunner.Outcome, took: Duration, child: Int32) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hook-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let started = ContinuousClock.now
        let outcome = HookRunner.runBlocking("echo started; " + script(file), environment: [:], timeout: timeout)
        let took = ContinuousClock.now - started
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let child = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        return (outcome, took, child)
    }

    @Test func aHookEndedByASignalHasTheStatusAShellWouldGiveIt() {
        let outcome = HookRunner.runBlocking("kill -TERM $$", environment: [:], timeout: .seconds(10))
        #expect(outcome.status == 128 + SIGTERM)
        #expect(!outcome.timedOut)
    }

    /// Whether `pid` has exited (waiting up to a second for it to be reaped by whoever is its parent now).
    static func gone(_ pid: Int32) -> Bool {
        for _ in 0..<50 {
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ")
            if state == nil || state?[2] == "Z" { return true }
            usleep(20_000)
        }
        return false
    }
}
