import ClusterTestSupport

/// Sends `ReportFuzzer` inputs to a coordinator over real HTTP on loopback, with the heartbeats, command answers and
/// admin reads that make it sum, plan and audit what was stored: every tenth input reads the audit, the VMs, a what-if
/// and the nodes; every input also heartbeats.
///
/// Blocking sockets: run it off Swift's concurrency pool.
public struct ReportFuzzCampaign: Sendable {
    public let fuzzer: ReportFuzzer
    public let port: Int
    public let adminToken: String
    public let agentToken: @Sendable (String) -> String

    public init(fuzzer: ReportFuzzer, port: Int, adminToken: String, agentToken: @escaping @Sendable (String) -> String)
    {
        self.fuzzer = fuzzer
        self.port = port
        self.adminToken = adminToken
        self.agentToken = agentToken
    }

    /// What the coordinator answered.
    public struct Tally: Sendable, CustomStringConvertible {
        /// Answers by HTTP status (0: no answer).
        public var statuses: [Int: Int] = [:]
        public var inputs = 0
        /// Admin reads answered with something other than 200 (a 5xx or no answer is a finding).
        public var failedReads: [String] = []

        public init() {}

        public var description: String {
            let byStatus = statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            return "\(inputs) reports (\(byStatus)), \(failedReads.count) failed admin reads"
        }
    }

    /// Runs inputs `range`; returns early (with what it saw) when the coordinator stops answering.
    ///
    /// `trace` hears of each input: its number, mutations, size, answer and how long the answer took.
    public func run(_ range: Range<Int>, into tally: inout Tally, trace: ((String) -> Void)? = nil) {
        for iteration in range {
            let input = fuzzer.input(iteration)
            let sent = ContinuousClock.now
            let answer = Daemons.http(
                "POST",
                port: port,
                path: "/v1/agents/\(input.node)/report",
                headers: ["Authorization": "Bearer \(agentToken(input.node))", "Content-Type": "application/json"],
                body: input.body
            )
            tally.inputs += 1
            tally.statuses[answer?.status ?? 0, default: 0] += 1
            trace?(
                "input \(iteration) [\(input.mutations.joined(separator: ","))] \(input.body.count) bytes to "
                    + "\(input.node): \(answer?.status ?? 0) in \(ContinuousClock.now - sent)"
            )
            _ = Daemons.http(
                "POST",
                port: port,
                path: "/v1/agents/\(input.node)/heartbeat",
                headers: ["Authorization": "Bearer \(agentToken(input.node))"],
                body: Array((iteration % 7 == 0 ? #"{"outbox": -1, "admitted": "no"}"# : #"{"outbox": 0}"#).utf8)
            )
            if iteration % 10 == 0 {
                for path in [
                    "/v1/audit", "/v1/vms", "/v1/nodes", "/v1/volumes", "/v1/whatif?fail=\(input.node)",
                    "/v1/vms/vm-\(iteration % 30)/check?to=\(fuzzer.nodes[iteration % fuzzer.nodes.count])",
                ] {
                    let read = Daemons.httpGet(
                        port: port,
                        path: path,
                        headers: ["Authorization": "Bearer \(adminToken)"]
                    )
                    let status = read?.status ?? 0
                    // 404: that VM is not registered (now); 409: a name several VMs share; 503: busy.
                    if ![200, 404, 409, 503].contains(status) {
                        tally.failedReads.append("iteration \(iteration) GET \(path): \(status)")
                    }
                }
            }
            if answer == nil { return }
        }
    }
}
