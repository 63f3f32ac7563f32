#if canImport(Glibc)
import Glibc
#endif

/// `CLOCK_MONOTONIC` in milliseconds: one clock for every process on the host, so the agent and its watchdog (two
/// processes) compare the same readings, and a wall-clock jump moves neither.
public enum MonotonicClock {
    public static func milliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
