import ArgumentParser
import AsyncHTTPClient
import ChainModel
import ClusterAPI
import ClusterStore
import ClusterTestSupport
import Crypto
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A cluster under load (issue 27): `nodes` simulated agents against a real `chainkeeperd coordinator` process over
/// HTTP, on the embedded store or on etcd.
///
/// The cluster is built through `ingest` first (each node's first report, as real agents send it); then every agent
/// heartbeats at the configured interval and long-polls for commands, answering each at once (preflight and adopt
/// pass, as on a healthy target). While they do, the benchmark times `vm show`, `check`, `whatif fail` of a node,
/// `audit`, a new node's 1,000-VM report (first and unchanged), then kills one agent (its heartbeats and command polls
/// stop) and times the failover: from the kill to the node declared down, and from then to every one of its VMs
/// committed elsewhere. It prints each heartbeat's round trip (p50, p99, max) in the steady state and during the
/// failover, and the coordinator's peak resident memory.
struct ClusterLoadBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Simulated agents against a real coordinator process: heartbeats, queries, a report, a failover."
    )

    @Option(help: "Nodes (simulated agents).") var nodes = 64
    @Option(help: "VMs in the cluster.") var vms = 8000
    @Option(help: "Checkpoints per VM.") var checkpoints = 16
    @Option(help: "embedded or etcd.") var store = "embedded"
    @Option(help: "Heartbeat interval of each agent, in milliseconds.") var heartbeatMilliseconds = 1000
    @Option(help: "Agent lease (leaseTTL), in seconds.") var leaseSeconds = 10
    @Option(help: "Requests timed per query.") var samples = 30
    @Option(help: "failover.concurrency of the coordinator.") var failoverConcurrency = 32
    @Flag(help: "Keep the database and the coordinator's log.") var keep = false
    @Option(
        name: .customLong("failing-node-vms"),
        help: "VMs of node0, whose what-if is timed and which dies (default: an even share)."
    )
    var failingNodeVMs: Int?

    func run() async throws {
        guard store == "embedded" || store == "etcd" else { throw ValidationError("--store is embedded or etcd") }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "chainkeeper-load-\(UUID().uuidString)"
        )
        .path
        try FileManager.default.createDirectory(atPath: root + "/coordinator", withIntermediateDirectories: true)
        defer {
            if keep { print("kept: \(root)") } else { try? FileManager.default.removeItem(atPath: root) }
        }
        let now = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        let names = (0..<nodes).map { "node\($0)" } + ["node-big"]
        let failing = failingNodeVMs ?? vms / nodes
        let others = nodes > 1 ? (vms - failing) / (nodes - 1) : 0
        do {
            let database = try ClusterStore(path: root + "/coordinator/cluster.sqlite")
            let loading = try ProcessTimer.seconds {
                var first = 0
                for node in 0..<nodes {
                    let name = NodeName("node\(node)")
                    let count = node == 0 ? failing : others
                    let owned = (first..<(first + count)).map {
                        SyntheticVMs.make($0, owner: name, volume: SpecCluster.volume, checkpoints: checkpoints)
                    }
                    first += count
                    _ = try database.ingest(SpecCluster.report(from: name, owning: owned), at: now)
                    try database.saveMount(
                        VolumeMount(volume: SpecCluster.volume, node: name, mountPath: "/mnt/csv1", lastProbeAt: now),
                        at: now
                    )
                }
            }
            let total = failing + others * (nodes - 1)
            // The node that joins later with 1,000 VMs is a member already, verified on csv1, owning nothing.
            let big = NodeName("node-big")
            _ = try database.ingest(SpecCluster.report(from: big, owning: []), at: now)
            try database.saveMount(
                VolumeMount(volume: SpecCluster.volume, node: big, mountPath: "/mnt/csv1", lastProbeAt: now),
                at: now
            )
            print(
                "cluster: \(nodes) nodes, \(total) VMs (node0 \(failing)), \(total * (3 + 3 * checkpoints)) files; "
                    + "built through ingest in \(Int(loading)) s"
            )
        }

        var etcd: EtcdProcess?
        var storeConfig = ""
        if store == "etcd" {
            let member = try EtcdProcess()
            etcd = member
            storeConfig = "store: {backend: etcd, endpoints: [\(member.clientURL)]}\nleaderLeaseTTL: 2s"
        }
        defer { etcd?.kill() }
        let port = Daemons.freePort()
        let admin = "load-bench-admin-token"
        let tokens = names.map { "  \($0): \(Self.token($0))" }.joined(separator: "\n")
        try """
        listen: "127.0.0.1:\(port)"
        dataDir: \(root)/coordinator
        adminTokens: [\(admin)]
        agentTokens:
        \(tokens)
        leaseTTL: \(leaseSeconds)s
        probeInterval: 1h
        failover: {enabled: true, concurrency: \(failoverConcurrency)}
        limits: {connections: 16384, connectionsPerAddress: 16384, adminQueue: 256, reportQueue: 64}
        \(storeConfig)
        """.write(toFile: root + "/coordinator.yaml", atomically: true, encoding: .utf8)
        let daemon =
            URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
            + "/chainkeeperd"
        let coordinator = try DaemonProcess(
            daemon,
            ["coordinator", "--config", root + "/coordinator.yaml"],
            environment: [:],
            logPath: root + "/coordinator.log"
        )
        defer { _ = coordinator.stop() }

        var configuration = HTTPClient.Configuration(
            timeout: .init(connect: .seconds(5), read: .seconds(120)),
            connectionPool: .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: 8192)
        )
        configuration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await measure(client: client, port: port, admin: admin, coordinator: coordinator, root: root)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func measure(
        client: HTTPClient,
        port: Int,
        admin: String,
        coordinator: DaemonProcess,
        root: String
    ) async throws {
        let failing = failingNodeVMs ?? vms / nodes
        let total = failing + (nodes > 1 ? (vms - failing) / (nodes - 1) * (nodes - 1) : 0)
        let api = LoadAPI(client: client, base: "http://127.0.0.1:\(port)", adminToken: admin)

        let started = ContinuousClock.now
        func leads() async throws -> Bool {
            let answer = try await api.get("/v1/leadership")
            guard answer.status == 200 else { return false }
            return (try? JSONDecoder().decode(LeadershipJSON.self, from: answer.body))?.role == "leader"
        }
        while (try? await leads()) != true {
            guard ContinuousClock.now - started < .seconds(600) else {
                throw ValidationError("the coordinator did not lead within 600 s; see \(root)/coordinator.log")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        print(
            "coordinator process leads after \(Self.format(ContinuousClock.now - started))"
                + " (\(store) store), resident \(Int(Self.memory(coordinator, "VmRSS"))) MiB"
        )

        // Every agent heartbeats and answers commands from now on.
        let book = HeartbeatBook()
        let agents = ((0..<nodes).map { "node\($0)" } + ["node-big"]).map { node in
            SimulatedAgent(
                node: node,
                token: Self.token(node),
                api: api,
                interval: .milliseconds(heartbeatMilliseconds),
                book: book
            )
        }
        for agent in agents { agent.start() }
        // The coordinator declares nothing down for one lease after it starts; the agents' leases settle meanwhile.
        try await Task.sleep(for: .seconds(leaseSeconds + 2))
        book.phase = "steady"
        var handled = try await api.heartbeatHandling()

        var random = SystemRandomNumberGenerator()
        func vm() -> String { "vm-\(Int.random(in: 0..<total, using: &random))" }
        func node() -> String { "node\(Int.random(in: 1..<nodes, using: &random))" }
        try await time("vm show", target: "< 5 ms", count: samples) { "/v1/vms/\(vm())" }
        try await time("check", target: "< 5 ms", count: samples) { "/v1/vms/\(vm())/check?to=\(node())" }
        try await time("whatif fail node0 (\(failing) VMs)", target: "< 500 ms", count: 5) { "/v1/whatif?fail=node0" }
        try await time("audit", target: "< 200 ms", count: 10) { "/v1/audit" }
        try await printRisks()

        // A node joins with 1,000 VMs: its first report registers every VM, the next one changes nothing.
        let big = (0..<1000).map {
            SyntheticVMs.make(10_000_000 + $0, owner: NodeName("node-big"), volume: SpecCluster.volume, checkpoints: 16)
        }
        // Entries with their digests, as an agent sends them; the unchanged report as an agent sends it now (every
        // entry by digest), and as it was sent before (every entry whole again).
        var whole = LoadReports.report(from: "node-big", owning: big)
        whole.vms = whole.vms.map { $0.withDigest { SHA256.hash(data: $0) } }
        var delta = whole
        delta.unchangedVMs = whole.vms.map { UnchangedVM(id: $0.id, digest: $0.digest ?? "") }
        delta.vms = []
        // Then every VM's running disk grows, as between two scans of a running node: each entry is sent whole again.
        var grown = LoadReports.report(
            from: "node-big",
            owning: big.map { vm in
                var vm = vm
                vm.files[vm.files.count - 1].size += 1 << 20
                return vm
            }
        )
        grown.vms = grown.vms.map { $0.withDigest { SHA256.hash(data: $0) } }
        let encoder = JSONEncoder()
        let posts = [
            ("first", try encoder.encode(whole), "1 s"), ("unchanged, sent whole", try encoder.encode(whole), "100 ms"),
            ("unchanged, by digest", try encoder.encode(delta), "100 ms"),
            ("every VM changed (a disk grew)", try encoder.encode(grown), "1 s"),
        ]
        for (label, report, target) in posts {
            let posted = ContinuousClock.now
            let answer = try await api.post("/v1/agents/node-big/report", token: Self.token("node-big"), body: report)
            let counts = (try? JSONDecoder().decode(ReportAnswer.self, from: answer.body)).map {
                " (registered \($0.registered), updated \($0.updated), unchanged \($0.unchanged), resend \($0.resendVMs?.count ?? 0))"
            }
            print(
                "report of 1,000 VMs (\(String(format: "%.2f", Double(report.count) / 1_048_576)) MiB of JSON), \(label): "
                    + "\(Self.format(ContinuousClock.now - posted)) (target < \(target))"
                    + (answer.status == 200 ? counts ?? "" : " status \(answer.status)")
            )
        }
        try await time("audit after the report", target: "< 200 ms", count: 5) { "/v1/audit" }
        // In a live cluster something commits every few seconds (any report, even one by digest, moves its node's
        // inventory time), so most audits follow a commit: each of these follows a report by digest.
        let byDigest = try encoder.encode(delta)
        try await time(
            "audit after a commit",
            target: "< 200 ms",
            count: 10,
            before: {
                _ = try await api.post("/v1/agents/node-big/report", token: Self.token("node-big"), body: byDigest)
            }
        ) { "/v1/audit" }
        try await printRisks()
        print(book.summary("steady"))
        var handledNow = try await api.heartbeatHandling()
        print("  " + LoadAPI.handlingSummary(from: handled, to: handledNow))
        handled = handledNow

        // node0 dies: its agent stops heartbeating and polling.
        book.phase = "failover"
        let victim = agents[0]
        victim.stop()
        let killed = ContinuousClock.now
        var declared: ContinuousClock.Instant?
        var emptied: ContinuousClock.Instant?
        var cpuAtDeclared = 0.0
        var cpuAtEmptied = 0.0
        while emptied == nil, ContinuousClock.now - killed < .seconds(Int64(leaseSeconds) * 3 + 120) {
            let answer = try await api.get("/v1/nodes")
            let rows = (try? JSONDecoder().decode([NodeJSON].self, from: answer.body)) ?? []
            if let row = rows.first(where: { $0.name == "node0" }) {
                if declared == nil, row.state == "down" || row.state == "fenced" {
                    declared = ContinuousClock.now
                    cpuAtDeclared = SpecBenchmark.cpuSeconds(coordinator)
                }
                if declared != nil, row.vmCount == 0 {
                    emptied = ContinuousClock.now
                    cpuAtEmptied = SpecBenchmark.cpuSeconds(coordinator)
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        if let declared {
            print(
                "failover: node0 (\(failing) VMs) declared down \(Self.format(declared - killed)) after its agent died"
            )
            if let emptied {
                print(
                    "failover: every VM of node0 committed elsewhere \(Self.format(emptied - declared)) after that "
                        + "(\(Self.format(emptied - killed)) after the death; target < 10 s from declared down)"
                )
                print(
                    "  the coordinator's CPU time meanwhile: "
                        + String(format: "%.2f s", cpuAtEmptied - cpuAtDeclared)
                        + " (of the two cores' \(Self.format((emptied - declared) * 2)))"
                )
            } else {
                print("failover: node0 still owns VMs; see \(root)/coordinator.log")
            }
        } else {
            print("failover: node0 was never declared down")
        }
        print(book.summary("failover"))
        handledNow = try await api.heartbeatHandling()
        print("  " + LoadAPI.handlingSummary(from: handled, to: handledNow))
        for agent in agents { agent.stop() }
        print(
            "coordinator resident memory: now \(Int(Self.memory(coordinator, "VmRSS"))) MiB, peak "
                + "\(Int(Self.memory(coordinator, "VmHWM"))) MiB (target < 1 GiB)"
        )

        func printRisks() async throws {
            let audit = try JSONDecoder().decode(AuditResponse.self, from: try await api.get("/v1/audit").body)
            let codes = Dictionary(grouping: audit.risks, by: \.code).map { "\($0.key) \($0.value.count)" }.sorted()
            print(
                "  the audit lists \(audit.risks.count) risks\(codes.isEmpty ? "" : ": " + codes.joined(separator: ", "))"
            )
        }

        /// `before` runs ahead of each request, untimed.
        func time(
            _ label: String,
            target: String,
            count: Int,
            before: (() async throws -> Void)? = nil,
            _ path: () -> String
        ) async throws {
            var times: [Duration] = []
            var failed = 0
            for _ in 0..<count {
                try await before?()
                let began = ContinuousClock.now
                if try await api.get(path()).status != 200 { failed += 1 }
                times.append(ContinuousClock.now - began)
            }
            let sorted = times.sorted()
            print(
                label.padding(toLength: 28, withPad: " ", startingAt: 0)
                    + " first \(Self.format(times[0])) · median \(Self.format(sorted[sorted.count / 2]))"
                    + " · max \(Self.format(sorted[sorted.count - 1]))  (target \(target))"
                    + (failed > 0 ? " \(failed) failed" : "")
            )
        }
    }

    static func token(_ node: String) -> String { "load-bench-\(node)-token" }

    static func format(_ duration: Duration) -> String {
        let milliseconds = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return milliseconds < 1000
            ? String(format: "%.1f ms", milliseconds) : String(format: "%.2f s", milliseconds / 1000)
    }

    /// A field of /proc/PID/status, in MiB.
    static func memory(_ process: DaemonProcess, _ field: String) -> Double {
        SpecBenchmark.resident(process, field)
    }
}

/// The coordinator's HTTP API as the benchmark calls it.
struct LoadAPI: Sendable {
    let client: HTTPClient
    let base: String
    let adminToken: String

    struct Answer {
        var status: Int
        var body: Data
    }

    func get(_ path: String, token: String? = nil, timeout: TimeAmount = .seconds(60)) async throws -> Answer {
        try await call(path, method: .GET, token: token ?? adminToken, body: nil, timeout: timeout)
    }

    func post(_ path: String, token: String, body: Data, timeout: TimeAmount = .seconds(60)) async throws -> Answer {
        try await call(path, method: .POST, token: token, body: body, timeout: timeout)
    }

    /// The coordinator's heartbeat handling histogram: cumulative counts by upper bound in seconds.
    func heartbeatHandling() async throws -> [(bound: Double, count: Double)] {
        let text = String(decoding: try await get("/metrics").body, as: UTF8.self)
        let prefix = "chainkeeper_heartbeat_handling_seconds_bucket{le=\""
        return text.split(separator: "\n").compactMap { line -> (Double, Double)? in
            guard line.hasPrefix(prefix),
                let close = line.firstIndex(of: "}"),
                let count = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
            else { return nil }
            let bound = line[line.index(line.startIndex, offsetBy: prefix.count)..<line.index(close, offsetBy: -1)]
            return (bound == "+Inf" ? .infinity : Double(bound) ?? .infinity, count)
        }
    }

    /// p50 and p99 of the heartbeats handled between two readings, as the histogram's bucket bounds.
    static func handlingSummary(
        from before: [(bound: Double, count: Double)],
        to after: [(bound: Double, count: Double)]
    )
        -> String
    {
        let counts = after.map { bucket in
            (bucket.bound, bucket.count - (before.first { $0.bound == bucket.bound }?.count ?? 0))
        }.sorted { $0.0 < $1.0 }
        guard let total = counts.last?.1, total > 0 else { return "coordinator-side handling: no heartbeats" }
        func quantile(_ share: Double) -> String {
            let bound = counts.first { $0.1 >= total * share }?.0 ?? .infinity
            return bound.isInfinite ? "> 2.5 s" : "≤ \(Int((bound * 1000).rounded())) ms"
        }
        return "coordinator-side handling of \(Int(total)) heartbeats (chainkeeper_heartbeat_handling_seconds): "
            + "p50 \(quantile(0.5)), p99 \(quantile(0.99)) (target: p99 < 10 ms)"
    }

    private func call(
        _ path: String,
        method: HTTPMethod,
        token: String,
        body: Data?,
        timeout: TimeAmount
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response = try await client.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 256 << 20)
        return Answer(status: Int(response.status.code), body: Data(buffer: bytes))
    }
}

/// Every heartbeat's round trip, by phase.
final class HeartbeatBook: Sendable {
    private let state = Mutex<(phase: String, times: [String: [Duration]], failed: [String: Int])>(("start", [:], [:]))

    var phase: String {
        get { state.withLock { $0.phase } }
        set { state.withLock { $0.phase = newValue } }
    }

    func record(_ duration: Duration, ok: Bool) {
        state.withLock { state in
            state.times[state.phase, default: []].append(duration)
            if !ok { state.failed[state.phase, default: 0] += 1 }
        }
    }

    func summary(_ phase: String) -> String {
        let (times, failed) = state.withLock { ($0.times[phase] ?? [], $0.failed[phase] ?? 0) }
        guard !times.isEmpty else { return "heartbeats (\(phase)): none" }
        let sorted = times.sorted()
        func at(_ share: Double) -> String {
            ClusterLoadBenchmark.format(sorted[min(sorted.count - 1, Int(Double(sorted.count) * share))])
        }
        return "heartbeats (\(phase)): \(times.count) round trips, p50 \(at(0.5)), p99 \(at(0.99)), max "
            + "\(ClusterLoadBenchmark.format(sorted[sorted.count - 1])) (target: p99 < 10 ms)"
            + (failed > 0 ? ", \(failed) not answered 200" : "")
    }
}

/// One node's agent as the coordinator sees it: heartbeats at its interval, and every command answered at once.
final class SimulatedAgent: Sendable {
    let node: String
    let token: String
    let api: LoadAPI
    let interval: Duration
    let book: HeartbeatBook
    private let tasks = Mutex<[Task<Void, Never>]>([])

    init(node: String, token: String, api: LoadAPI, interval: Duration, book: HeartbeatBook) {
        self.node = node
        self.token = token
        self.api = api
        self.interval = interval
        self.book = book
    }

    func start() {
        let beat = Data(#"{"outbox":0,"admitted":true}"#.utf8)
        let heartbeats = Task { [self] in
            // Spread over the interval, as agents started at different times are.
            try? await Task.sleep(for: interval * Double.random(in: 0..<1))
            var next = ContinuousClock.now
            while !Task.isCancelled {
                let began = ContinuousClock.now
                let answer = try? await api.post("/v1/agents/\(node)/heartbeat", token: token, body: beat)
                if !Task.isCancelled { book.record(ContinuousClock.now - began, ok: answer?.status == 200) }
                next += interval
                try? await Task.sleep(until: max(next, ContinuousClock.now), clock: .continuous)
            }
        }
        let commands = Task { [self] in
            let ok = Data(#"{"ok":true,"reasons":[]}"#.utf8)
            while !Task.isCancelled {
                guard let answer = try? await api.get("/v1/agents/\(node)/commands?wait=20", token: token),
                    answer.status == 200,
                    let commands = try? JSONDecoder().decode([AgentCommand].self, from: answer.body)
                else {
                    try? await Task.sleep(for: .milliseconds(500))
                    continue
                }
                guard !Task.isCancelled else { return }
                for command in commands {
                    _ = try? await api.post("/v1/agents/\(node)/commands/\(command.id)", token: token, body: ok)
                }
            }
        }
        tasks.withLock { $0 = [heartbeats, commands] }
    }

    func stop() { tasks.withLock { for task in $0 { task.cancel() } } }
}

/// Model VMs as an agent's report carries them.
enum LoadReports {
    static func report(from node: String, owning vms: [VM]) -> AgentReport {
        AgentReport(
            node: node,
            driver: Reported(InventoryDriver.hypervJSON),
            memoryMiB: 1 << 22,
            volumes: [ReportedVolume(id: SpecCluster.volume.rawValue, name: "csv1", mountPath: "/mnt/csv1")],
            vms: vms.map(reported)
        )
    }

    static func reported(_ vm: VM) -> ReportedVM {
        var index: [FileLocation: Int] = [:]
        let files = vm.files.enumerated().map { position, file -> ReportedFile in
            index[file.location] = position
            var volumeID: String?
            var relativePath: String?
            if case .volume(let volume, let path) = file.location {
                volumeID = volume.rawValue
                relativePath = path
            }
            return ReportedFile(
                path: file.path,
                volumeId: volumeID,
                relativePath: relativePath,
                kind: Reported(file.kind),
                format: file.format.map { Reported($0) },
                size: file.size,
                identifier: file.identifier,
                checkpointId: file.checkpoint?.rawValue
            )
        }
        return ReportedVM(
            id: vm.id.rawValue,
            name: vm.name,
            state: Reported(vm.state),
            highlyAvailable: vm.highlyAvailable,
            memoryMiB: vm.memoryMiB,
            checkpoints: vm.checkpoints.map {
                ReportedCheckpoint(id: $0.id.rawValue, name: $0.name, parentId: $0.parent?.rawValue)
            },
            files: files,
            chains: vm.chains.map { chain in
                ReportedChain(checkpointId: chain.checkpoint?.rawValue, files: chain.elements.compactMap { index[$0] })
            }
        )
    }
}
