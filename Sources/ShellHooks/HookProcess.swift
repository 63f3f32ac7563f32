import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `/bin/sh -c COMMAND` spawned in a process group of its own, its output and errors on one pipe, for `HookRunner`.
///
/// It keeps the last 4 KiB of output only: a hook that writes without end costs no memory.
final class HookProcess {
    struct SpawnError: Error {
        var message: String
    }

    private let pid: pid_t
    private let output: Int32
    private var tail: [UInt8] = []
    private(set) var outputOpen = true
    /// The shell's exit status once it has exited (128 + the signal that ended it, as a shell reports one).
    private(set) var status: Int32 = 0
    /// The shell has exited; it stays a zombie until `reap()`, so its process id, which is also its group's id, is
    /// given to no other process while this one may still signal the group.
    private(set) var hasExited = false
    private var reaped = false

    static let keptOutputBytes = 4096

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc module does not
    /// declare; `nil` on an older libc (then descriptors without close-on-exec are inherited, as with `Process`).
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    init(_ command: String, environment: [String: String]) throws(SpawnError) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw SpawnError(message: "cannot make a pipe: errno \(errno)") }
        // Not inherited by what other threads spawn meanwhile (the child gets its copies through dup2).
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, ends[1], 1)
        posix_spawn_file_actions_adddup2(&actions, ends[1], 2)
        // Nothing else of this process (its listening sockets, its database) is the hook's to hold.
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, no blocked signals, and the default action for the signals this process ignores or
        // handles (SIGPIPE above all: a shell pipeline must end when its reader does).
        var none = sigset_t()
        sigemptyset(&none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes,
            Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        )
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let arguments: [String] = ["/bin/sh", "-c", command]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, "/bin/sh", &actions, &attributes, argv, envp)
        close(ends[1])
        guard result == 0 else {
            close(ends[0])
            throw SpawnError(message: "cannot start /bin/sh: \(String(cString: strerror(result)))")
        }
        pid = child
        output = ends[0]
    }

    deinit {
        close(output)
        reap()
    }

    /// The output kept, as text.
    var text: String { String(decoding: tail, as: UTF8.self) }

    /// Reads what output is there, waiting up to `wait` for some (or, once it is closed, sleeping that long); then
    /// notes whether the shell has exited.
    func readOrWait(upTo wait: Duration) {
        let milliseconds = Int32(
            clamping: wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
        )
        if outputOpen {
            var ready = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, milliseconds) > 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = read(output, &buffer, buffer.count)
                if count > 0 {
                    tail.append(contentsOf: buffer[0..<count])
                    if tail.count > Self.keptOutputBytes { tail.removeFirst(tail.count - Self.keptOutputBytes) }
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    outputOpen = false
                }
            }
        } else {
            usleep(useconds_t(milliseconds) * 1000)
        }
        noteExit()
    }

    /// Sends `signal` to the hook's whole process group.
    func signalGroup(_ signal: Int32) {
        guard !hasExited else { return }
        kill(-pid, signal)
    }

    /// Sends SIGKILL to what is left of the hook's process group once the shell has exited (the group lives on, under
    /// the shell's process id, while any member does).
    ///
    /// Only before `reap()`: a reaped shell's id may be another's.
    func killGroup() {
        guard !reaped else { return }
        kill(-pid, SIGKILL)
    }

    /// Leaves the shell, which has not exited even after SIGKILL, to a thread that waits for it.
    func reapLater() {
        let pid = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        }
    }

    /// Collects the exited shell, after which its process id is free for the system to give again.
    func reap() {
        guard hasExited, !reaped else { return }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) == -1, errno == EINTR {}
        reaped = true
    }

    /// Notes whether the shell has exited, and its status, leaving it to `reap()` (`WNOWAIT`).
    private func noteExit() {
        guard !hasExited else { return }
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0,
            info._sifields._sigchld.si_pid == pid
        else { return }
        hasExited = true
        let value = info._sifields._sigchld.si_status
        status = info.si_code == CLD_EXITED ? value : 128 + value
    }
}
