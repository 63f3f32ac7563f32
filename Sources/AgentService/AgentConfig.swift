import ChainModel
import DiskFormats
import Foundation
import Yams

/// The agent's config file (SPEC §2), YAML or JSON, decoded with Codable.
///
/// Scalar keys can be overridden by `CHAINKEEPERD_<KEY>` variables; unknown keys are reported, not fatal; a bad value
/// is an error that names the key.
public struct AgentConfig: Sendable, Equatable {
    public var node: String
    /// Every coordinator address; the agent uses the first that answers.
    public var coordinators: [String]
    public var token: String?
    public var dataDir: String
    public var volumes: [String]
    /// Where the VMs come from (SPEC §4).
    public var inventory: Inventory
    /// The `hyperv-json` export (`nil` for the libvirt driver).
    public var inventoryPath: String? {
        if case .hypervJSON(let path) = inventory { return path }
        return nil
    }

    /// The inventory driver and its settings.
    public enum Inventory: Sendable, Equatable {
        case hypervJSON(path: String)
        /// libvirt's persistent domain XML and snapshot XML directories, and the optional state command.
        case libvirt(domains: String, snapshots: String, stateCommand: String?)
    }
    public var heartbeat: Duration = .seconds(2)
    public var rescan: Duration = .seconds(60)
    public var memoryMiB: Int?
    /// Windows path prefix → local directory, for parent locators.
    public var pathMap: [String: String] = [:]
    public var sharedSources: [String] = []
    /// Shell commands run at each hand-off step (SPEC §2): `release`, `adopt`, `fence`.
    public var hooks: [String: String] = [:]
    public var hookTimeout: Duration = .seconds(60)
    /// `watchdog.timeout`; `nil` means half the lease the coordinator announces (SPEC §2).
    public var watchdogTimeout: Duration?
    /// `tls`: verify the coordinator against `ca` and authenticate with this node's certificate.
    public var tls: TLSFiles?

    /// The PEM files of the agent's `tls` key.
    public struct TLSFiles: Sendable, Equatable {
        public var ca: String
        public var certificate: String
        public var key: String

        public init(ca: String, certificate: String, key: String) {
            self.ca = ca
            self.certificate = certificate
            self.key = key
        }
    }

    public init(node: String, coordinators: [String], dataDir: String, volumes: [String], inventoryPath: String) {
        self.node = node
        self.coordinators = coordinators
        self.dataDir = dataDir
        self.volumes = volumes
        inventory = .hypervJSON(path: inventoryPath)
    }

    /// Keys of SPEC §2 this version reads.
    static let knownKeys: Set<String> = [
        "node", "coordinator", "token", "dataDir", "volumes", "inventory", "heartbeat", "rescan", "memoryMiB",
        "pathMap", "sharedSources", "hooks", "hookTimeout", "watchdog", "tls",
    ]
    /// Keys of SPEC §2 that belong to later work: accepted, said to be unused.
    static let laterKeys: Set<String> = []

    static let environment: [(key: String, variable: String)] = [
        ("node", "CHAINKEEPERD_NODE"), ("coordinator", "CHAINKEEPERD_COORDINATOR"), ("token", "CHAINKEEPERD_TOKEN"),
        ("dataDir", "CHAINKEEPERD_DATA_DIR"), ("heartbeat", "CHAINKEEPERD_HEARTBEAT"),
        ("rescan", "CHAINKEEPERD_RESCAN"), ("memoryMiB", "CHAINKEEPERD_MEMORY_MIB"),
    ]

    /// Overrides of keys that are not scalars, so one example file can serve several local nodes.
    ///
    /// `CHAINKEEPERD_VOLUMES` (comma-separated), `CHAINKEEPERD_INVENTORY_PATH` (the `hyperv-json` file),
    /// `CHAINKEEPERD_HOOK_RELEASE`, `_ADOPT` and `_FENCE`; `chainkeeper demo` runs deploy/examples/agent.yaml this way.
    static func overrideNested(_ mapping: inout Yams.Node.Mapping, from environment: [String: String]) {
        if let volumes = environment["CHAINKEEPERD_VOLUMES"] {
            let list = volumes.split(separator: ",").map { Yams.Node(String($0).trimmingCharacters(in: .whitespaces)) }
            mapping["volumes"] = Yams.Node.sequence(Yams.Node.Sequence(list))
        }
        if let path = environment["CHAINKEEPERD_INVENTORY_PATH"] {
            mapping["inventory"] = Yams.Node.mapping(
                Yams.Node.Mapping([
                    (Yams.Node("driver"), Yams.Node("hyperv-json")), (Yams.Node("path"), Yams.Node(path)),
                ])
            )
        }
        for hook in ["release", "adopt", "fence"] {
            guard let command = environment["CHAINKEEPERD_HOOK_\(hook.uppercased())"] else { continue }
            var hooks: Yams.Node.Mapping
            if case .mapping(let existing)? = mapping["hooks"] {
                hooks = existing
            } else {
                hooks = Yams.Node.Mapping([])
            }
            hooks[hook] = Yams.Node(command)
            mapping["hooks"] = Yams.Node.mapping(hooks)
        }
    }

    public static func load(
        path: String,
        environment: [String: String]
    ) throws(AgentConfigError) -> (config: AgentConfig, warnings: [String]) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw AgentConfigError("cannot read \(path): \(error.localizedDescription)")
        }
        return try parse(text, source: path, environment: environment)
    }

    public static func parse(
        _ text: String,
        source: String,
        environment: [String: String]
    ) throws(AgentConfigError) -> (config: AgentConfig, warnings: [String]) {
        var mapping: Yams.Node.Mapping
        do {
            guard case .mapping(let root)? = try Yams.compose(yaml: text) else {
                throw AgentConfigError("\(source) is not a map of keys to values")
            }
            mapping = root
        } catch let error as AgentConfigError {
            throw error
        } catch {
            throw AgentConfigError("\(source) is not valid YAML or JSON: \(error)")
        }
        let keys = mapping.keys.compactMap(\.string)
        var warnings = keys.filter { !knownKeys.contains($0) && !laterKeys.contains($0) }.sorted().map {
            "unknown key '\($0)' in \(source) ignored"
        }
        warnings += keys.filter(laterKeys.contains).sorted().map {
            "key '\($0)' in \(source) is not used by this version of the agent"
        }
        for (key, variable) in Self.environment {
            if let value = environment[variable] { mapping[key] = Yams.Node(value) }
        }
        Self.overrideNested(&mapping, from: environment)
        let raw: RawAgentConfig
        do {
            raw = try YAMLDecoder().decode(RawAgentConfig.self, from: Yams.Node.mapping(mapping))
        } catch {
            throw AgentConfigError("\(source): \(Self.describe(error))")
        }
        return (try raw.validated(source: source), warnings)
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(let type, let context), DecodingError.valueNotFound(let type, let context):
            "\(context.codingPath.map(\.stringValue).joined(separator: ".")) must be \(Self.typeName(type))"
        case DecodingError.dataCorrupted(let context):
            "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case DecodingError.keyNotFound(let key, _): "\(key.stringValue) is required"
        default: "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "a whole number"
        case is String.Type: "a string"
        case is [String].Type: "a list of strings"
        case is [String: String].Type: "a map of strings"
        default: "\(type)"
        }
    }
}

/// A config that cannot be used, with what to fix.
public struct AgentConfigError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The file as written, before validation.
struct RawAgentConfig: Decodable {
    struct Inventory: Decodable {
        var driver: String
        var path: String?
        var domains: String?
        var snapshots: String?
        var stateCommand: String?
    }

    /// A URL, a comma-separated list of URLs, or a YAML list of them.
    struct Addresses: Decodable {
        var urls: [String]

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                urls = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            } else {
                urls = try container.decode([String].self)
            }
        }
    }

    var node: String?
    var coordinator: Addresses?
    var token: String?
    var dataDir: String?
    var volumes: [String]?
    var inventory: Inventory?
    var heartbeat: String?
    var rescan: String?
    var memoryMiB: Int?
    var pathMap: [String: String]?
    var sharedSources: [String]?
    var hooks: [String: String]?
    var hookTimeout: String?
    var watchdog: Watchdog?
    var tls: TLS?

    struct Watchdog: Decodable {
        var timeout: String?
    }

    struct TLS: Decodable {
        var ca: String
        var certificate: String
        var key: String
    }

    func validated(source: String) throws(AgentConfigError) -> AgentConfig {
        guard let node, !node.isEmpty else { throw AgentConfigError("\(source): node (this node's name) is required") }
        guard node.utf8.count <= 255,
            !node.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw AgentConfigError("\(source): node must be a printable name of at most 255 bytes") }
        let urls = coordinator?.urls.filter { !$0.isEmpty } ?? ["http://127.0.0.1:7400"]
        for url in urls {
            guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil
            else { throw AgentConfigError("\(source): coordinator '\(url)' is not an http:// or https:// URL") }
        }
        guard let dataDir, !dataDir.isEmpty else {
            throw AgentConfigError("\(source): dataDir is required (the directory for the agent's database)")
        }
        guard let inventory else {
            throw AgentConfigError("\(source): inventory is required, e.g. {driver: hyperv-json, path: FILE}")
        }
        var config: AgentConfig
        switch inventory.driver {
        case "hyperv-json":
            guard let inventoryPath = inventory.path, !inventoryPath.isEmpty else {
                throw AgentConfigError("\(source): inventory.path is required for the hyperv-json driver")
            }
            config = AgentConfig(
                node: node,
                coordinators: urls,
                dataDir: dataDir,
                volumes: volumes ?? [],
                inventoryPath: inventoryPath
            )
        case "libvirt":
            config = AgentConfig(
                node: node,
                coordinators: urls,
                dataDir: dataDir,
                volumes: volumes ?? [],
                inventoryPath: ""
            )
            config.inventory = .libvirt(
                domains: inventory.domains ?? "/etc/libvirt/qemu",
                snapshots: inventory.snapshots ?? "/var/lib/libvirt/qemu/snapshot",
                stateCommand: inventory.stateCommand
            )
        default:
            throw AgentConfigError(
                "\(source): inventory driver '\(inventory.driver)' is unknown; use hyperv-json or libvirt"
            )
        }
        config.token = token
        config.heartbeat = try Self.duration(heartbeat, key: "heartbeat", default: config.heartbeat, source: source)
        config.rescan = try Self.duration(rescan, key: "rescan", default: config.rescan, source: source)
        if let memoryMiB {
            guard memoryMiB >= 0 else { throw AgentConfigError("\(source): memoryMiB must not be negative") }
            config.memoryMiB = memoryMiB
        }
        config.pathMap = pathMap ?? [:]
        config.sharedSources = sharedSources ?? []
        config.hooks = hooks ?? [:]
        if let unknown = config.hooks.keys.first(where: { !["release", "adopt", "fence"].contains($0) }) {
            throw AgentConfigError("\(source): hooks.\(unknown) is not a hook; the hooks are release, adopt and fence")
        }
        config.hookTimeout = try Self.duration(
            hookTimeout,
            key: "hookTimeout",
            default: config.hookTimeout,
            source: source
        )
        if let timeout = watchdog?.timeout {
            config.watchdogTimeout = try Self.duration(
                timeout,
                key: "watchdog.timeout",
                default: .seconds(5),
                source: source
            )
        }
        if config.volumes.isEmpty {
            throw AgentConfigError("\(source): volumes must list at least one directory to look for volume markers in")
        }
        if let tls {
            config.tls = AgentConfig.TLSFiles(ca: tls.ca, certificate: tls.certificate, key: tls.key)
            guard config.coordinators.allSatisfy({ $0.hasPrefix("https://") }) else {
                throw AgentConfigError("\(source): with tls, every coordinator URL must be https://")
            }
        } else if token == nil {
            throw AgentConfigError("\(source): token is required unless tls gives this node a client certificate")
        }
        return config
    }

    private static func duration(
        _ raw: String?,
        key: String,
        default value: Duration,
        source: String
    ) throws(AgentConfigError) -> Duration {
        guard let raw else { return value }
        guard let parsed = DurationText.parse(raw), parsed > .zero else {
            throw AgentConfigError("\(source): \(key) must be a duration such as \"2s\" or \"1m\", got '\(raw)'")
        }
        return parsed
    }
}
