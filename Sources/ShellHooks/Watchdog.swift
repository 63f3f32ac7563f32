import Foundation

/// `chainkeeperd watchdog`: a separate process that outlives the agent and fences the node when the agent stops
/// feeding it (SPEC §6).
///
/// It polls the feed file every 100 ms. Once an armed feed is older than its timeout, it runs the fence hook once
/// (`CHAINKEEPER_OPERATION=fence`, `CHAINKEEPER_NODE`), writes `disarmed` so a later agent starts from a clean state,
/// and exits. `exit` in the feed makes it exit without fencing. A feed file that disappears counts as no feed: an armed
/// watchdog still fences when its timeout passes; an idle one exits once the feed's directory (the agent's data
/// directory) is gone, since no agent can arm it again.
public struct Watchdog: Sendable {
    public var feedPath: String
    public var node: String
    public var fenceHook: String?
    public var hookTimeout: Duration
    /// A built-in fence (libvirt: destroy this node's HA domains), used when no fence hook is configured.
    public var builtInFence: (@Sendable () -> (succeeded: Bool, output: String))?
    /// Where each line of the watchdog's own log goes.
    public var log: @Sendable (String) -> Void

    public init(
        feedPath: String,
        node: String,
        fenceHook: String?,
        hookTimeout: Duration,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.feedPath = feedPath
        self.node = node
        self.fenceHook = fenceHook
        self.hookTimeout = hookTimeout
        self.log = log
    }

    /// How the watchdog ended.
    public enum Ending: Equatable, Sendable {
        /// The feed said `exit`.
        case released
        /// It fenced the node: whether the hook succeeded.
        case fenced(succeeded: Bool)
    }

    /// Runs until the feed says `exit` or the node has been fenced.
    public func run() -> Ending {
        log("watchdog for \(node) started, watching \(feedPath)")
        let directory = (feedPath as NSString).deletingLastPathComponent
        var lastArmed: (fedAt: Int64, timeout: Int64)?
        while true {
            switch WatchdogFeed.read(from: feedPath) {
            case .exit:
                log("the agent stopped and owns nothing: watchdog exits")
                return .released
            case .armed(let fedAt, let timeout):
                lastArmed = (fedAt, timeout)
                let silent = MonotonicClock.milliseconds() - fedAt
                if silent > timeout { return fence(silentMilliseconds: silent) }
            case .disarmed:
                lastArmed = nil
            case nil:
                if let armed = lastArmed {
                    let silent = MonotonicClock.milliseconds() - armed.fedAt
                    if silent > armed.timeout { return fence(silentMilliseconds: silent) }
                } else if !FileManager.default.fileExists(atPath: directory) {
                    log("\(directory) is gone and nothing is armed: watchdog exits")
                    return .released
                }
            }
            usleep(100_000)
        }
    }

    private func fence(silentMilliseconds: Int64) -> Ending {
        log("no feed from the agent for \(silentMilliseconds) ms: fencing \(node)")
        try? WatchdogFeed.disarmed.write(to: feedPath)
        guard let fenceHook else {
            if let builtInFence {
                let (succeeded, output) = builtInFence()
                log(succeeded ? "built-in fence succeeded: \(output)" : "built-in fence failed: \(output)")
                return .fenced(succeeded: succeeded)
            }
            log("no fence hook is configured: \(node) cannot be fenced, its VMs keep running")
            return .fenced(succeeded: false)
        }
        let outcome = HookRunner.runBlocking(
            fenceHook,
            environment: ["CHAINKEEPER_OPERATION": "fence", "CHAINKEEPER_NODE": node],
            timeout: hookTimeout
        )
        log(
            outcome.succeeded
                ? "fence hook succeeded"
                : "fence hook failed (status \(outcome.status), timed out: \(outcome.timedOut)): \(outcome.output)"
        )
        return .fenced(succeeded: outcome.succeeded)
    }
}
