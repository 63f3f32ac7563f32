import ChainModel
import DecisionEngine

/// A failover scenario in the pve-ha-manager style: a cluster description and a command script, both small text
/// files, read here without any I/O (the caller hands over their text).
///
/// `cluster`:
///
///     lease 10s                     # the coordinator's leaseTTL (default 10s)
///     heartbeat 2s                  # the agents' heartbeat (default 2s)
///     fence-command ok              # none (default) | ok | fails: the coordinator's own fence command
///     failover off                  # failover.enabled (default on)
///     storage-heartbeats off        # agents write no storage heartbeat: the lease rule alone (default on)
///     isolation-timeout 30s         # isolationTimeout (default 30s)
///     storage-loss-timeout 60s      # storageLossTimeout (default 60s)
///     quarantine-threshold 3        # quarantineThreshold (default 3)
///     node node1 memory 16384       # memory offered, MiB (optional)
///     volume csv1 node1 node2       # a volume and the nodes that reach it
///     vm web1 node1 memory 4096 files csv1,local:node1 priority high preferred node2 possible node2,node3
///        class web ha no state off max-failovers 2 period 1h isolation stop   (every key after the owner is optional)
///     class web enforced
///     failed-over web1 10m 2h       # earlier automatic failovers of web1, that long before the start
///
/// `commands`, one per line, each `at TIME COMMAND…`, and a final `run TIME`:
/// `kill NODE` (power lost), `crash-agent NODE`, `pause NODE FOR`, `partition NODE`, `heal NODE`, `boot NODE`,
/// `whatif NODE`, `drain NODE`, `resume NODE`, `fence-confirm NODE`, `clear VM`, `preflight-fails NODE VM`,
/// `adopt-fails NODE VM`, `adopt-answer-lost NODE VM` (the adopt runs, its answer never arrives), `restart-coordinator`, `stop-coordinator`, `start-coordinator`, `lose-quorum`,
/// `restore-quorum` (the coordinator runs but can write nothing, as on etcd without quorum), `cut-storage NODE` and
/// `restore-storage NODE` (the node's paths to every shared volume); and, to prove the invariant checker can fail, `break-fence-hook NODE`
/// (its fence hook stops nothing) and the cluster line `declare-down-early DUR`.
public struct Scenario: Sendable {
    public struct NodeSpec: Sendable {
        public var name: NodeName
        public var memoryMiB: Int?
    }

    public struct VMSpec: Sendable {
        public var name: String
        public var owner: NodeName
        public var memoryMiB: Int = 1024
        /// A volume name, or `local:NODE` for a file on that node's local disk.
        public var files: [String] = []
        public var highlyAvailable = true
        public var state: PowerState = .running
        public var policy = PlacementPolicy()
    }

    public enum Command: Hashable, Sendable {
        case kill(NodeName)
        case crashAgent(NodeName)
        case pause(NodeName, Duration)
        case partition(NodeName)
        case heal(NodeName)
        case boot(NodeName)
        case whatIf(NodeName)
        case drain(NodeName)
        case resume(NodeName)
        case fenceConfirm(NodeName)
        case clear(String)
        case preflightFails(NodeName, String)
        case adoptFails(NodeName, String)
        case adoptAnswerLost(NodeName, String)
        case restartCoordinator
        case breakFenceHook(NodeName)
        case stopCoordinator
        case startCoordinator
        case loseQuorum
        case restoreQuorum
        case cutStorage(NodeName)
        case restoreStorage(NodeName)

        /// The node the command names, if any.
        var node: NodeName? {
            switch self {
            case .kill(let node), .crashAgent(let node), .pause(let node, _), .partition(let node), .heal(let node),
                .boot(let node), .whatIf(let node), .drain(let node), .resume(let node), .fenceConfirm(let node),
                .preflightFails(let node, _), .adoptFails(let node, _), .adoptAnswerLost(let node, _),
                .breakFenceHook(let node),
                .cutStorage(let node), .restoreStorage(let node):
                node
            case .clear, .restartCoordinator, .stopCoordinator, .startCoordinator, .loseQuorum, .restoreQuorum: nil
            }
        }
    }

    public var leaseTTL: Duration = .seconds(10)
    public var heartbeat: Duration = .seconds(2)
    public var fenceCommand: FenceCommand = .none
    public var failoverEnabled = true
    /// Whether agents write storage heartbeats on shared volumes (SPEC §6); off: the lease rule alone.
    public var storageHeartbeats = true
    public var isolationTimeout: Duration = .seconds(30)
    public var storageLossTimeout: Duration = .seconds(60)
    public var quarantineThreshold = 3
    /// Only for the invariant checker's own tests: the coordinator declares nodes down this long *before* their lease
    /// plus margin runs out (`declare-down-early DUR`).
    public var declareDownEarly: Duration?
    public var nodes: [NodeSpec] = []
    /// Volume name → nodes that reach it.
    public var volumes: [(name: String, nodes: [NodeName])] = []
    public var vms: [VMSpec] = []
    public var classes: [AntiAffinityClass] = []
    /// Earlier failovers per VM name, as time before the start.
    public var earlierFailovers: [String: [Duration]] = [:]
    public var commands: [(at: Duration, command: Command)] = []
    public var runFor: Duration = .seconds(60)

    public enum FenceCommand: String, Sendable {
        case none
        case ok
        case fails
    }

    public init(cluster: String, commands: String) throws(ScenarioError) {
        for (number, line) in Self.lines(cluster) { try parseCluster(line, number) }
        for (number, line) in Self.lines(commands) { try parseCommand(line, number) }
    }

    private static func lines(_ text: String) -> [(Int, [String])] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, raw in
            let content = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = content.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            return words.isEmpty ? nil : (index + 1, words)
        }
    }

    private mutating func parseCluster(_ words: [String], _ line: Int) throws(ScenarioError) {
        func fail(_ message: String) -> ScenarioError { ScenarioError(line: line, message: message) }
        switch words[0] {
        case "lease": leaseTTL = try Self.duration(words, 1, line)
        case "heartbeat": heartbeat = try Self.duration(words, 1, line)
        case "fence-command":
            guard words.count == 2, let value = FenceCommand(rawValue: words[1]) else {
                throw fail("fence-command takes none, ok or fails")
            }
            fenceCommand = value
        case "failover": failoverEnabled = words.count > 1 && words[1] == "on"
        case "storage-heartbeats": storageHeartbeats = words.count > 1 && words[1] == "on"
        case "isolation-timeout": isolationTimeout = try Self.duration(words, 1, line)
        case "storage-loss-timeout": storageLossTimeout = try Self.duration(words, 1, line)
        case "quarantine-threshold": quarantineThreshold = words.count > 1 ? Int(words[1]) ?? 3 : 3
        case "declare-down-early": declareDownEarly = try Self.duration(words, 1, line)
        case "node":
            guard words.count >= 2 else { throw fail("node needs a name") }
            var spec = NodeSpec(name: NodeName(words[1]))
            if words.count >= 4, words[2] == "memory" { spec.memoryMiB = Int(words[3]) }
            nodes.append(spec)
        case "volume":
            guard words.count >= 2 else { throw fail("volume needs a name") }
            volumes.append((words[1], words.dropFirst(2).map { NodeName($0) }))
        case "class":
            guard words.count >= 2 else { throw fail("class needs a name") }
            classes.append(AntiAffinityClass(name: words[1], enforced: words.dropFirst(2).contains("enforced")))
        case "failed-over":
            guard words.count >= 3 else { throw fail("failed-over needs a VM and at least one age") }
            var ages: [Duration] = []
            for index in 2..<words.count { ages.append(try Self.duration(words, index, line)) }
            earlierFailovers[words[1]] = ages
        case "vm":
            guard words.count >= 3 else { throw fail("vm needs a name and an owner") }
            var spec = VMSpec(name: words[1], owner: NodeName(words[2]))
            var index = 3
            while index < words.count {
                guard index + 1 < words.count else { throw fail("\(words[index]) needs a value") }
                let value = words[index + 1]
                let list = value.split(separator: ",").map { NodeName(String($0)) }
                switch words[index] {
                case "memory": spec.memoryMiB = Int(value) ?? 0
                case "files": spec.files = value.split(separator: ",").map(String.init)
                case "ha": spec.highlyAvailable = value == "yes"
                case "state":
                    guard let state = PowerState(rawValue: value) else { throw fail("unknown state \(value)") }
                    spec.state = state
                case "priority":
                    guard let priority = FailoverPriority(rawValue: value) else { throw fail("unknown priority") }
                    spec.policy.priority = priority
                case "preferred": spec.policy.preferredOwners = list
                case "possible": spec.policy.possibleOwners = list
                case "class": spec.policy.antiAffinityClass = value
                case "max-failovers": spec.policy.threshold.maxFailovers = Int(value) ?? 0
                case "period": spec.policy.threshold.period = try Self.duration(words, index + 1, line)
                case "isolation":
                    guard let response = IsolationResponse(rawValue: value) else {
                        throw fail("isolation is keep-running or stop")
                    }
                    spec.policy.isolation = response
                default: throw fail("unknown vm key \(words[index])")
                }
                index += 2
            }
            vms.append(spec)
        default:
            throw fail("unknown line '\(words[0])'")
        }
    }

    private mutating func parseCommand(_ words: [String], _ line: Int) throws(ScenarioError) {
        func fail(_ message: String) -> ScenarioError { ScenarioError(line: line, message: message) }
        if words[0] == "run" {
            runFor = try Self.duration(words, 1, line)
            return
        }
        guard words[0] == "at", words.count >= 3 else { throw fail("a command is 'at TIME COMMAND …'") }
        let at = try Self.duration(words, 1, line)
        let args = Array(words.dropFirst(3))
        func node(_ index: Int = 0) throws(ScenarioError) -> NodeName {
            guard index < args.count else { throw fail("\(words[2]) needs a node") }
            return NodeName(args[index])
        }
        func name(_ index: Int) throws(ScenarioError) -> String {
            guard index < args.count else { throw fail("\(words[2]) needs a VM") }
            return args[index]
        }
        let command: Command
        switch words[2] {
        case "kill": command = .kill(try node())
        case "crash-agent": command = .crashAgent(try node())
        case "pause": command = .pause(try node(), try Self.duration(words, 4, line))
        case "partition": command = .partition(try node())
        case "heal": command = .heal(try node())
        case "boot": command = .boot(try node())
        case "whatif": command = .whatIf(try node())
        case "drain": command = .drain(try node())
        case "resume": command = .resume(try node())
        case "fence-confirm": command = .fenceConfirm(try node())
        case "clear": command = .clear(try name(0))
        case "preflight-fails": command = .preflightFails(try node(), try name(1))
        case "adopt-fails": command = .adoptFails(try node(), try name(1))
        case "adopt-answer-lost": command = .adoptAnswerLost(try node(), try name(1))
        case "restart-coordinator": command = .restartCoordinator
        case "break-fence-hook": command = .breakFenceHook(try node())
        case "stop-coordinator": command = .stopCoordinator
        case "start-coordinator": command = .startCoordinator
        case "lose-quorum": command = .loseQuorum
        case "restore-quorum": command = .restoreQuorum
        case "cut-storage": command = .cutStorage(try node())
        case "restore-storage": command = .restoreStorage(try node())
        default: throw fail("unknown command '\(words[2])'")
        }
        commands.append((at, command))
    }

    private static func duration(_ words: [String], _ index: Int, _ line: Int) throws(ScenarioError) -> Duration {
        guard index < words.count, let value = DurationText.parse(words[index]) else {
            throw ScenarioError(line: line, message: "expected a duration such as 10s at word \(index + 1)")
        }
        return value
    }
}

/// A scenario file that cannot be read, with its line.
public struct ScenarioError: Error, Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}
