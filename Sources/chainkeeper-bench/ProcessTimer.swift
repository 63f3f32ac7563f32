import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs external tools and times them, for the peer comparisons.
enum ProcessTimer {
    /// Runs `tool` and returns its exit status; output is discarded.
    ///
    /// Uses `posix_spawn` directly: Foundation's `Process` adds tens of milliseconds per launch on Linux, which would
    /// flatter us.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([tool] + arguments).map { (text: String) in strdup(text) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] =
            ["PATH=/usr/bin:/bin", "LC_ALL=C"].map { (text: String) in strdup(text) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, tool, &actions, nil, argv, envp)
        guard result == 0 else { throw SpawnError(message: "cannot run \(tool): \(String(cString: strerror(result)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status >> 8) & 0xFF
    }

    /// CPU time this thread has spent so far, in user space and in the kernel, in seconds.
    static func threadCPU() -> (user: Double, system: Double) {
        var usage = rusage()
        // RUSAGE_THREAD (1): the loop runs on one thread, and the others would only add noise.
        getrusage(__rusage_who_t(1), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return (seconds(usage.ru_utime), seconds(usage.ru_stime))
    }

    struct SpawnError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    static func locate(_ name: String) -> String? {
        ["/usr/bin", "/usr/local/bin", "/bin"].map { "\($0)/\(name)" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// Seconds elapsed while running `body`.
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        let (seconds, attoseconds) = (clock.now - start).components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
