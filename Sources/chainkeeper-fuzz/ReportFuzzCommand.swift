import ArgumentParser
import ClusterTestSupport
import Foundation
import ReportFuzzing

#if canImport(Glibc)
import Glibc
#endif

/// `chainkeeper-fuzz reports`: seeded agent reports of random shape and extreme values against a real
/// `chainkeeperd coordinator` process, until the two processes have used a CPU budget; then the coordinator is
/// stopped and started again on its database, which must come up and answer (issue 20).
struct ReportFuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reports",
        abstract: "Fuzz a coordinator with hostile agent reports; exit 1 if it dies or does not restart.",
        discussion: """
            Input i of seed s is always the same report, so a crash is replayed with --seed s --start I --count N. \
            The coordinator runs from --chainkeeperd (by default the one beside this binary) in a new directory that \
            is kept when something fails.
            """
    )

    @Option(help: "CPU minutes to spend, the coordinator's and this process's together.") var cpuMinutes: Double = 10
    @Option(help: "Seed of the run.") var seed: UInt64 = 1
    @Option(help: "First input.") var start: Int = 0
    @Option(help: "Run exactly this many inputs (ignores --cpu-minutes).") var count: Int?
    @Option(help: "The chainkeeperd binary.") var chainkeeperd: String?
    @Flag(help: "Print every input: its mutations, size, answer and time.") var trace = false

    static let nodes = ["node1", "node2", "node3"]
    static let adminToken = "fuzz-admin-token-0123456789"
    static func agentToken(_ node: String) -> String { "fuzz-\(node)-token-0123456789" }

    func run() throws {
        let binary =
            chainkeeperd
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("chainkeeperd").path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("report-fuzz-\(seed)-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = Daemons.freePort()
        let config = directory.appendingPathComponent("coordinator.json").path
        let tokens = Self.nodes.map { "\"\($0)\": \"\(Self.agentToken($0))\"" }.joined(separator: ", ")
        try """
        {"listen": "127.0.0.1:\(port)", "dataDir": "\(directory.path)/data", "adminTokens": ["\(Self.adminToken)"],
         "agentTokens": {\(tokens)}, "leaseTTL": "4s", "maxBodyBytes": 16777216,
         "limits": {"failedAuthenticationsPerMinute": 1000000}}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        var coordinator = try Self.start(binary, config: config, directory: directory, port: port, run: 1)
        print("coordinator pid \(coordinator.process.processIdentifier) on port \(port), data in \(directory.path)")
        let campaign = ReportFuzzCampaign(
            fuzzer: ReportFuzzer(seed: seed, nodes: Self.nodes),
            port: port,
            adminToken: Self.adminToken,
            agentToken: { Self.agentToken($0) }
        )
        let coordinatorCPU = ProcessCPU(pid: coordinator.process.processIdentifier)
        let started = ContinuousClock.now
        var tally = ReportFuzzCampaign.Tally()
        var next = start
        var lastLine = ContinuousClock.now
        func cpuSeconds() -> Double { coordinatorCPU.seconds() + ProcessCPU.ownSeconds() }
        while count.map({ next < start + $0 }) ?? (cpuSeconds() < cpuMinutes * 60) {
            let batch = min(50, count.map { start + $0 - next } ?? 50)
            campaign.run(next..<(next + batch), into: &tally, trace: trace ? { print($0) } : nil)
            next += batch
            guard coordinator.process.isRunning, tally.statuses[0] == nil else {
                print("FAILED: the coordinator stopped answering between inputs \(next - batch) and \(next)")
                print("replay: chainkeeper-fuzz reports --seed \(seed) --start \(next - batch) --count \(batch)")
                print("its log: \(coordinator.logPath)")
                throw ExitCode.failure
            }
            if ContinuousClock.now - lastLine >= .seconds(10) {
                lastLine = ContinuousClock.now
                print(
                    String(
                        format: "seed %llu inputs %d..<%d, %.0f CPU s: %@",
                        seed,
                        start,
                        next,
                        cpuSeconds(),
                        "\(tally)"
                    )
                )
                fflush(nil)
            }
        }
        let cpu = cpuSeconds()
        let wall = ContinuousClock.now - started
        guard tally.failedReads.isEmpty else {
            print("FAILED: admin reads did not answer as they should:")
            for failure in tally.failedReads.prefix(20) { print("  \(failure)") }
            throw ExitCode.failure
        }
        print(
            String(
                format: "done: seed %llu inputs %d..<%d in %.0f s wall, %.1f CPU minutes (coordinator %.1f), %@",
                seed,
                start,
                next,
                Double(wall.components.seconds),
                cpu / 60,
                coordinatorCPU.seconds() / 60,
                "\(tally), no crash"
            )
        )
        // The database the fuzz left must not stop a coordinator from starting.
        kill(coordinator.process.processIdentifier, SIGTERM)
        coordinator.process.waitUntilExit()
        coordinator = try Self.start(binary, config: config, directory: directory, port: port, run: 2)
        let audit = Daemons.httpGet(
            port: port,
            path: "/v1/audit",
            headers: ["Authorization": "Bearer \(Self.adminToken)"]
        )
        let whatIf = Daemons.httpGet(
            port: port,
            path: "/v1/whatif?fail=node1",
            headers: ["Authorization": "Bearer \(Self.adminToken)"]
        )
        // A few seconds past its start-up wait, so that the failover manager's rounds have read the database too.
        Thread.sleep(forTimeInterval: 6)
        let alive = coordinator.process.isRunning && Daemons.httpGet(port: port, path: "/healthz") != nil
        kill(coordinator.process.processIdentifier, SIGTERM)
        coordinator.process.waitUntilExit()
        guard alive, audit?.status == 200 || audit?.status == 503, whatIf?.status == 200 else {
            print(
                "FAILED: the restarted coordinator did not serve (audit \(audit?.status ?? 0), what-if \(whatIf?.status ?? 0))"
            )
            print("its log: \(coordinator.logPath)")
            throw ExitCode.failure
        }
        print(
            "restarted on its database: healthz, audit and what-if answered; exit \(coordinator.process.terminationStatus)"
        )
        try? FileManager.default.removeItem(at: directory)
    }

    static func start(_ binary: String, config: String, directory: URL, port: Int, run: Int) throws -> DaemonProcess {
        let process = try DaemonProcess(
            binary,
            ["coordinator", "--config", config],
            environment: [:],
            logPath: directory.appendingPathComponent("coordinator-\(run).log").path
        )
        let deadline = ContinuousClock.now + .seconds(30)
        while Daemons.httpGet(port: port, path: "/healthz") == nil {
            guard process.process.isRunning, ContinuousClock.now < deadline else {
                print("FAILED: the coordinator did not start (run \(run)); its log: \(process.logPath)")
                throw ExitCode.failure
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return process
    }
}

/// CPU time (user and system) a process has used, from /proc.
struct ProcessCPU {
    let pid: Int32

    func seconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command name: state is 3, utime 14 and stime 15 (1-based, counting from the pid).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func ownSeconds() -> Double { ProcessCPU(pid: getpid()).seconds() }
}
