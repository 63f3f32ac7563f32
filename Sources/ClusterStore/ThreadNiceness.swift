#if canImport(Glibc)
import Glibc
#endif

/// The calling thread's scheduling niceness (Linux schedules threads one by one, so `setpriority` on a thread id
/// touches that thread only).
///
/// `gettid` is looked up at run time: Swift's Glibc module does not declare it.
public enum ThreadNiceness {
    private typealias GetThreadID = @convention(c) () -> Int32
    private static let gettid: GetThreadID? = dlsym(nil, "gettid").map { unsafeBitCast($0, to: GetThreadID.self) }

    /// The calling thread's niceness (0 when it cannot be read).
    public static var current: Int32 {
        guard let gettid else { return 0 }
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(gettid()))
    }

    /// Sets the calling thread's niceness.
    ///
    /// Only a privileged process lowers it again.
    public static func set(_ niceness: Int32) {
        guard let gettid else { return }
        let thread = gettid()
        guard getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(thread)) != niceness else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(thread), niceness)
    }
}
