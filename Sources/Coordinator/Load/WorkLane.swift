import ClusterStore
import NIOPosix
import Prometheus
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Threads of their own for work that blocks: SQLite reads and writes, audits, queries, the JSON of large bodies.
///
/// Swift's cooperative pool has one thread per core (two on a small coordinator). A request that blocks one of them on
/// SQLite for seconds — a query looping in a recursive CTE, a 10 MiB report being written — leaves agents' heartbeats
/// waiting behind it, and a node whose heartbeats go unanswered fences itself. So every admin request and every report
/// runs on a lane (`run` sets it as the task's executor preference): a fixed number of threads, and a bounded number of
/// requests admitted to wait for them. Past that, `run` refuses at once with 503 `busy` and `Retry-After` (SPEC §8),
/// never queueing without end. Heartbeats, command polls and command results run on no lane: they never wait for one.
final class WorkLane: TaskExecutor, Sendable {
    let name: String
    /// Requests running at once (one thread each while they block).
    let threads: Int
    /// Requests admitted beyond `threads`, waiting for one.
    let queue: Int
    private let pool: NIOThreadPool
    private let state = Mutex<(admitted: Int, refused: Int)>((0, 0))
    /// `chainkeeper_lane_requests{lane}` (admitted now) and `chainkeeper_lane_busy_total{lane}` (refused).
    private let admittedGauge: Gauge
    private let refusedCounter: Counter

    /// The scheduling niceness of this lane's threads (0: as every other thread; 10: the kernel gives heartbeats and
    /// the event loops the CPU first when the machine is busy).
    let niceness: Int32

    init(name: String, threads: Int, queue: Int, niceness: Int32 = 0, metrics: PrometheusCollectorRegistry) {
        self.name = name
        self.niceness = niceness
        self.threads = max(1, threads)
        self.queue = max(0, queue)
        pool = NIOThreadPool(numberOfThreads: self.threads)
        pool.start()
        admittedGauge = metrics.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "chainkeeper",
                metricName: "lane_requests",
                unitName: "now",
                helpText: "Requests admitted to a work lane now (running or waiting for a thread)"
            ),
            labels: [("lane", name)]
        )
        refusedCounter = metrics.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "chainkeeper",
                metricName: "lane_busy",
                unitName: "total",
                helpText: "Requests a work lane refused with 503 busy"
            ),
            labels: [("lane", name)]
        )
    }

    deinit { pool.shutdownGracefully { _ in } }

    /// A job of a task that prefers this lane. (A pool already shut down runs it on the caller's thread: a job is
    /// never dropped.)
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let niceness = niceness
        pool.submit { _ in
            if niceness != 0 { ThreadNiceness.set(niceness) }
            job.runSynchronously(on: executor)
        }
    }

    /// Requests admitted now (running or waiting).
    var admitted: Int { state.withLock { $0.admitted } }
    /// Requests refused with `busy` since the lane was made.
    var refused: Int { state.withLock { $0.refused } }

    /// Runs `body` on this lane's threads, or throws `busy` when `threads + queue` requests are already admitted.
    func run<T>(_ body: () async throws -> T) async throws -> T {
        let admitted = state.withLock { state -> Bool in
            guard state.admitted < threads + queue else {
                state.refused += 1
                return false
            }
            state.admitted += 1
            return true
        }
        admittedGauge.set(Double(self.admitted))
        guard admitted else {
            refusedCounter.increment()
            throw APIError.busy(
                "the coordinator is busy with \(threads + queue) \(name) requests; retry in a second (heartbeats are "
                    + "not affected)"
            )
        }
        defer {
            let now = state.withLock { state in
                state.admitted -= 1
                return state.admitted
            }
            admittedGauge.set(Double(now))
        }
        return try await withTaskExecutorPreference(self) { try await body() }
    }
}
