import ChainModel
import ConfigFile
import DiskFormats
import Foundation
import Yams

/// The agent's config file (SPEC §2), YAML or JSON, read as `ConfigFile` reads both daemons' files.
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
        case libvirt(
            domains: String,
            snapshots: String,
            stateCommand: String?,
            live: String = "/run/libvirt/qemu",
            swtpm: String = "/var/lib/libvirt/swtpm"
        )
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
    /// The built-in libvirt hand-off (SPEC §4 `uri`, `peerURI`, `unsafeMigration`); set with the libvirt driver.
    public var libvirt: LibvirtSettings?

    /// How the agent reaches its own libvirt and how other nodes' libvirt reach it.
    public struct LibvirtSettings: Sendable, Equatable {
        /// This node's libvirt (default `qemu:///system`).
        public var uri: String
        /// How another node's libvirt reaches this one for a live migration (default `qemu+ssh://NODE/system`).
        public var peerURI: String
        /// Pass `VIR_MIGRATE_UNSAFE` (a cluster filesystem libvirt does not recognise as shared).
        public var unsafeMigration: Bool
        /// `mergeBandwidth`: MiB/s a checkpoint delete's block commit or pull may use (0: as fast as the storage
        /// goes), so that a merge does not starve the guests' own I/O.
        public var mergeBandwidthMiB: Int

        public init(uri: String, peerURI: String, unsafeMigration: Bool, mergeBandwidthMiB: Int = 0) {
            self.uri = uri
            self.peerURI = peerURI
            self.unsafeMigration = unsafeMigration
            self.mergeBandwidthMiB = mergeBandwidthMiB
        }
    }
    /// `inventory.mergeBandwidth`, MiB/s: 0 to 1,048,576.
    static func bandwidth(_ value: Int?, source: String) throws(AgentConfigError) -> Int {
        guard let value else { return 0 }
        guard (0...1 << 20).contains(value) else {
            throw AgentConfigError("\(source): inventory.mergeBandwidth is MiB/s between 0 (no limit) and 1048576")
        }
        return value
    }

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
        for hook in ["release", "adopt", "fence", "stop"] {
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
        try parse(try ConfigFile.read(path: path), source: path, environment: environment)
    }

    public static func parse(
        _ text: String,
        source: String,
        environment: [String: String]
    ) throws(AgentConfigError) -> (config: AgentConfig, warnings: [String]) {
        var file = try ConfigFile(text, source: source, knownKeys: knownKeys)
        file.override(Self.environment, from: environment)
        Self.overrideNested(&file.mapping, from: environment)
        let raw = try file.decode(RawAgentConfig.self)
        return (try raw.validated(file), file.warnings)
    }
}

/// A config that cannot be used, with what to fix.
public typealias AgentConfigError = ConfigFileError

/// The file as written, before validation.
struct RawAgentConfig: Decodable {
    struct Inventory: Decodable {
        var driver: String
        var path: String?
        var domains: String?
        var snapshots: String?
        var stateCommand: String?
        var live: String?
        var swtpm: String?
        var uri: String?
        var peerURI: String?
        var unsafeMigration: Bool?
        var mergeBandwidth: Int?
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

    func validated(_ file: ConfigFile) throws(AgentConfigError) -> AgentConfig {
        let source = file.source
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
                stateCommand: inventory.stateCommand,
                live: inventory.live ?? "/run/libvirt/qemu",
                swtpm: inventory.swtpm ?? "/var/lib/libvirt/swtpm"
            )
            config.libvirt = AgentConfig.LibvirtSettings(
                uri: inventory.uri ?? "qemu:///system",
                peerURI: inventory.peerURI ?? "qemu+ssh://\(node)/system",
                unsafeMigration: inventory.unsafeMigration ?? false,
                mergeBandwidthMiB: try AgentConfig.bandwidth(inventory.mergeBandwidth, source: source)
            )
        default:
            throw AgentConfigError(
                "\(source): inventory driver '\(inventory.driver)' is unknown; use hyperv-json or libvirt"
            )
        }
        config.token = token
        config.heartbeat = try file.duration(heartbeat, key: "heartbeat", default: config.heartbeat)
        config.rescan = try file.duration(rescan, key: "rescan", default: config.rescan)
        if let memoryMiB {
            guard memoryMiB >= 0 else { throw AgentConfigError("\(source): memoryMiB must not be negative") }
            config.memoryMiB = memoryMiB
        }
        config.pathMap = pathMap ?? [:]
        config.sharedSources = sharedSources ?? []
        config.hooks = hooks ?? [:]
        let hooks = ["release", "adopt", "fence", "stop", "checkpoint", "repair"]
        if let unknown = config.hooks.keys.first(where: { !hooks.contains($0) }) {
            throw AgentConfigError(
                "\(source): hooks.\(unknown) is not a hook; the hooks are release, adopt, fence, stop and checkpoint"
            )
        }
        config.hookTimeout = try file.duration(hookTimeout, key: "hookTimeout", default: config.hookTimeout)
        if let timeout = watchdog?.timeout {
            config.watchdogTimeout = try file.duration(timeout, key: "watchdog.timeout", default: .seconds(5))
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
}
