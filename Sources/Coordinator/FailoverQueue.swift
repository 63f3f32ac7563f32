import Prometheus

/// Runs the planned failovers at most `failover.concurrency` at a time, in the order the plan gave them.
///
/// A dead node's plan places every VM at once, in priority order, with node load counted per move; only the running
/// of the moves is bounded, so a node with a thousand VMs neither starts a thousand journal writers and command waits
/// at once nor fails them over one at a time. Workers take the moves first in, first out, so the order the planner
/// chose (priority, then name) is the order failovers start in.
actor FailoverQueue {
    typealias Work = @Sendable () async -> Void

    private let limit: Int
    private var queue: [Work] = []
    private var head = 0
    private var workers = 0
    /// The most failovers that ever ran at once in this process.
    private(set) var peak = 0
    private let runningGauge: Gauge
    private let waitingGauge: Gauge

    init(limit: Int, metrics: PrometheusCollectorRegistry) {
        self.limit = max(1, limit)
        runningGauge = metrics.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "chainkeeper",
                metricName: "failovers_running",
                unitName: "now",
                helpText: "Failovers running now (at most failover.concurrency)"
            )
        )
        waitingGauge = metrics.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "chainkeeper",
                metricName: "failovers_waiting",
                unitName: "now",
                helpText: "Planned failovers waiting for one of the failover.concurrency slots"
            )
        )
    }

    /// Queues `work` behind what is already waiting, in the order given, and starts workers up to the limit.
    func enqueue(_ work: [Work]) {
        queue.append(contentsOf: work)
        // Each new worker starts with its move in hand; when a worker ends a move it takes the next waiting one.
        while workers < limit, head < queue.count {
            let first = queue[head]
            head += 1
            workers += 1
            peak = max(peak, workers)
            Task {
                await first()
                while let work = self.next() { await work() }
            }
        }
        publish()
    }

    /// The next move to run, or `nil` (and one worker fewer) when none waits.
    private func next() -> Work? {
        guard head < queue.count else {
            workers -= 1
            queue = []
            head = 0
            publish()
            return nil
        }
        let work = queue[head]
        head += 1
        publish()
        return work
    }

    private func publish() {
        runningGauge.set(Int64(workers))
        waitingGauge.set(Int64(queue.count - head))
    }
}
