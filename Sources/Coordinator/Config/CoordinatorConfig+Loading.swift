import ChainModel
import ClusterAPI
import ConfigFile
import Yams

extension CoordinatorConfig {
    static let knownKeys: Set<String> = [
        "listen", "dataDir", "adminTokens", "agentTokens", "leaseTTL", "leaderLeaseTTL", "inventoryMaxAge",
        "probeInterval", "fence", "failover", "store", "tls", "maxBodyBytes", "commandTimeout", "advertise",
        "agentListen", "limits", "quarantineThreshold", "isolationTimeout", "storageLossTimeout", "maxChainDepth",
        "minFreeSpace",
    ]

    /// The scalar keys `CHAINKEEPERD_<KEY>` overrides.
    static let environmentKeys: [(key: String, variable: String)] = [
        ("listen", "CHAINKEEPERD_LISTEN"), ("dataDir", "CHAINKEEPERD_DATA_DIR"), ("leaseTTL", "CHAINKEEPERD_LEASE_TTL"),
        ("inventoryMaxAge", "CHAINKEEPERD_INVENTORY_MAX_AGE"), ("probeInterval", "CHAINKEEPERD_PROBE_INTERVAL"),
        ("maxBodyBytes", "CHAINKEEPERD_MAX_BODY_BYTES"), ("leaderLeaseTTL", "CHAINKEEPERD_LEADER_LEASE_TTL"),
        ("advertise", "CHAINKEEPERD_ADVERTISE"), ("agentListen", "CHAINKEEPERD_AGENT_LISTEN"),
        ("adminTokens", "CHAINKEEPERD_ADMIN_TOKENS"), ("quarantineThreshold", "CHAINKEEPERD_QUARANTINE_THRESHOLD"),
        ("isolationTimeout", "CHAINKEEPERD_ISOLATION_TIMEOUT"),
        ("storageLossTimeout", "CHAINKEEPERD_STORAGE_LOSS_TIMEOUT"), ("maxChainDepth", "CHAINKEEPERD_MAX_CHAIN_DEPTH"),
        ("minFreeSpace", "CHAINKEEPERD_MIN_FREE_SPACE"),
    ]

    /// What a key that is not a scalar must look like, for the error when it does not.
    static let shapes: [String: String] = [
        "agentTokens": "agentTokens must map node names to a token or a list of tokens",
        "fence": "fence must be {command: STRING, timeout: DURATION}",
        "failover": "failover must be {enabled: true|false, concurrency: 1-1024}",
        "tls": "tls must be {certificate: FILE, key: FILE, clientCA: FILE}",
        "store": "store must be {backend: sqlite} or {backend: etcd, endpoints: [URL…], prefix: …}",
        "limits": "limits must be a map (connections, connectionsPerAddress, idleTimeout, …)",
    ]

    /// Reads a config file; `warnings` lists what was ignored.
    public static func load(
        path: String,
        environment: [String: String]
    ) throws(ConfigError) -> (config: CoordinatorConfig, warnings: [String]) {
        try parse(try ConfigFile.read(path: path), source: path, environment: environment)
    }

    public static func parse(
        _ text: String,
        source: String,
        environment: [String: String]
    ) throws(ConfigError) -> (config: CoordinatorConfig, warnings: [String]) {
        var file = try ConfigFile(text, source: source, knownKeys: knownKeys)
        file.override(environmentKeys, from: environment)
        // The fence command: replaced, or removed when the variable is empty (then lease expiry counts as fenced).
        if let command = environment["CHAINKEEPERD_FENCE_COMMAND"] {
            if command.isEmpty {
                file.mapping["fence"] = nil
            } else {
                var fence = Yams.Node.Mapping([])
                if case .mapping(let existing)? = file.mapping["fence"] { fence = existing }
                fence["command"] = Yams.Node(command)
                file.mapping["fence"] = Yams.Node.mapping(fence)
            }
        }
        file.warnAboutUnknownKeys(under: "fence", known: ["command", "timeout"])
        file.warnAboutUnknownKeys(under: "failover", known: ["enabled", "concurrency"])
        file.warnAboutUnknownKeys(under: "limits", known: RawCoordinatorConfig.Limits.keys)
        let raw = try file.decode(RawCoordinatorConfig.self, shapes: shapes)
        var warnings = file.warnings
        let config = try raw.validated(file)
        if config.adminTokens.isEmpty { warnings.append("no adminTokens: every admin request will be refused") }
        let published = AccessControl.exampleTokensIn(config)
        if !published.isEmpty {
            warnings.append(
                "\(published.joined(separator: ", ")) in \(source) accept(s) a token published in the example configs "
                    + "(change-me-…): anyone who has read them can act on this cluster; replace them with random "
                    + "tokens (`openssl rand -hex 32`) before any real use"
            )
        }
        return (config, warnings)
    }
}

/// The coordinator's file as written, before validation (`validated`).
struct RawCoordinatorConfig: Decodable {
    /// A token, or a list of them during rotation.
    struct Tokens: Decodable {
        var values: [String]

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let token = try? container.decode(String.self) {
                values = [token]
            } else {
                values = try container.decode([String].self)
            }
        }
    }

    struct Fence: Decodable {
        var command: String?
        var timeout: String?
    }

    struct Failover: Decodable {
        var enabled: Bool?
        var concurrency: Int?
    }

    struct Store: Decodable {
        var backend: String
        var endpoints: [String]?
        var prefix: String?
    }

    struct TLS: Decodable {
        var certificate: String
        var key: String
        var clientCA: String
    }

    struct Limits: Decodable {
        static let keys: Set<String> = [
            "connections", "connectionsPerAddress", "idleTimeout", "bodyTimeout", "adminWorkers", "adminQueue",
            "reportQueue", "failedAuthenticationsPerMinute",
        ]
        var connections: Int?
        var connectionsPerAddress: Int?
        var idleTimeout: String?
        var bodyTimeout: String?
        var adminWorkers: Int?
        var adminQueue: Int?
        var reportQueue: Int?
        var failedAuthenticationsPerMinute: Int?
    }

    var listen: String?
    var dataDir: String?
    var adminTokens: ConfigList?
    var agentTokens: [String: Tokens]?
    var leaseTTL: String?
    var leaderLeaseTTL: String?
    var inventoryMaxAge: String?
    var probeInterval: String?
    var commandTimeout: String?
    var fence: Fence?
    var failover: Failover?
    var store: Store?
    var tls: TLS?
    var maxBodyBytes: Int?
    var quarantineThreshold: Int?
    var isolationTimeout: String?
    var storageLossTimeout: String?
    var maxChainDepth: Int?
    var minFreeSpace: String?
    var advertise: String?
    var agentListen: String?
    var limits: Limits?

    func validated(_ file: ConfigFile) throws(ConfigError) -> CoordinatorConfig {
        let source = file.source
        guard let dataDir, !dataDir.isEmpty else {
            throw ConfigError("\(source): dataDir is required (the directory for the cluster database)")
        }
        var config = CoordinatorConfig(dataDir: dataDir)
        if let listen {
            let address = try Self.listenAddress(listen, key: "listen", source: source)
            config.listenHost = address.host
            config.listenPort = address.port
        }
        if let agentListen {
            config.agentListen = try Self.listenAddress(agentListen, key: "agentListen", source: source)
        }
        config.adminTokens = adminTokens?.values ?? []
        for (node, tokens) in agentTokens ?? [:] {
            guard !tokens.values.isEmpty, tokens.values.allSatisfy({ !$0.isEmpty }) else {
                throw ConfigError("\(source): agentTokens.\(node) has no token")
            }
            config.agentTokens[node] = tokens.values
        }
        for token in config.adminTokens + config.agentTokens.values.flatMap({ $0 }) where token.hasPrefix("sha256:") {
            let hex = token.dropFirst("sha256:".count)
            guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                throw ConfigError("\(source): a sha256: token must be 64 hex digits (see `chainkeeper token hash`)")
            }
        }
        config.leaseTTL = try file.duration(leaseTTL, key: "leaseTTL", default: config.leaseTTL)
        config.inventoryMaxAge = try file.duration(
            inventoryMaxAge,
            key: "inventoryMaxAge",
            default: config.inventoryMaxAge
        )
        config.probeInterval = try file.duration(probeInterval, key: "probeInterval", default: config.probeInterval)
        config.commandTimeout = try file.duration(commandTimeout, key: "commandTimeout", default: config.commandTimeout)
        config.leaderLeaseTTL = try file.duration(leaderLeaseTTL, key: "leaderLeaseTTL", default: config.leaderLeaseTTL)
        if let fence {
            guard let command = fence.command, !command.isEmpty else {
                throw ConfigError("\(source): \(CoordinatorConfig.shapes["fence"] ?? "")")
            }
            config.fenceCommand = command
            config.fenceTimeout = try file.duration(fence.timeout, key: "fence.timeout", default: config.fenceTimeout)
        }
        if let tls { config.tls = .init(certificate: tls.certificate, key: tls.key, clientCA: tls.clientCA) }
        if let enabled = failover?.enabled { config.failoverEnabled = enabled }
        if let concurrency = failover?.concurrency {
            guard (1...1024).contains(concurrency) else {
                throw ConfigError(
                    "\(source): failover.concurrency must be a number of failovers from 1 to 1024, got \(concurrency)"
                )
            }
            config.failoverConcurrency = concurrency
        }
        if let advertise {
            guard advertise.hasPrefix("http://") || advertise.hasPrefix("https://") else {
                throw ConfigError("\(source): advertise must be an http:// or https:// URL, got '\(advertise)'")
            }
            config.advertise = advertise.hasSuffix("/") ? String(advertise.dropLast()) : advertise
        }
        if let store { config.store = try Self.backend(store, source: source) }
        if case .etcd = config.store { try CoordinatorConfig.checkTakeoverFitsInAgentLease(config, source: source) }
        if let maxBodyBytes {
            guard maxBodyBytes >= 1024 else {
                throw ConfigError(
                    "\(source): maxBodyBytes must be a number of bytes of at least 1024, got '\(maxBodyBytes)'"
                )
            }
            config.maxBodyBytes = maxBodyBytes
        }
        if let quarantineThreshold {
            guard (1...1000).contains(quarantineThreshold) else {
                throw ConfigError(
                    "\(source): quarantineThreshold must be a number of times from 1 to 1000, got '\(quarantineThreshold)'"
                )
            }
            config.quarantineThreshold = quarantineThreshold
        }
        if let maxChainDepth {
            guard (1...ReportLimits.chainLength).contains(maxChainDepth) else {
                throw ConfigError(
                    "\(source): maxChainDepth must be a number of disks from 1 to \(ReportLimits.chainLength), got "
                        + "'\(maxChainDepth)'"
                )
            }
            config.maxChainDepth = maxChainDepth
        }
        if let minFreeSpace {
            let number = minFreeSpace.hasSuffix("%") ? String(minFreeSpace.dropLast()) : minFreeSpace
            guard let percent = Double(number.filter { $0 != " " }), (0...100).contains(percent) else {
                throw ConfigError("\(source): minFreeSpace must be a percentage such as 5%, got '\(minFreeSpace)'")
            }
            config.minFreeSpacePercent = percent
        }
        try applyIsolationKeys(to: &config, file)
        if let limits { config.limits = try limits.validated(file) }
        return config
    }

    /// `isolationTimeout` and `storageLossTimeout` (SPEC §6): durations of at most a day.
    func applyIsolationKeys(to config: inout CoordinatorConfig, _ file: ConfigFile) throws(ConfigError) {
        config.isolationTimeout = try file.duration(
            isolationTimeout,
            key: "isolationTimeout",
            default: config.isolationTimeout
        )
        config.storageLossTimeout = try file.duration(
            storageLossTimeout,
            key: "storageLossTimeout",
            default: config.storageLossTimeout
        )
        for (key, value) in [
            ("isolationTimeout", config.isolationTimeout), ("storageLossTimeout", config.storageLossTimeout),
        ]
        where value > .seconds(86_400) {
            throw ConfigError("\(file.source): \(key) must be at most 24h, got '\(DurationText.format(value))'")
        }
    }

    static func listenAddress(
        _ text: String,
        key: String,
        source: String
    ) throws(ConfigError) -> CoordinatorConfig.ListenAddress {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ConfigError("\(source): \(key) must be host:port, got '\(text)'")
        }
        return .init(host: String(text[..<colon]), port: port)
    }

    static func backend(_ store: Store, source: String) throws(ConfigError) -> CoordinatorConfig.StoreBackend {
        switch store.backend {
        case "sqlite":
            return .sqlite
        case "etcd":
            let endpoints = store.endpoints ?? []
            guard !endpoints.isEmpty else {
                throw ConfigError("\(source): store.endpoints must list the etcd members' client URLs")
            }
            for endpoint in endpoints where !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
                throw ConfigError("\(source): store.endpoints: '\(endpoint)' is not an http:// or https:// URL")
            }
            let prefix = store.prefix ?? "chainkeeper/"
            guard !prefix.isEmpty else { throw ConfigError("\(source): store.prefix must not be empty") }
            return .etcd(endpoints: endpoints, prefix: prefix)
        default:
            throw ConfigError("\(source): store.backend must be sqlite or etcd, got '\(store.backend)'")
        }
    }
}

extension RawCoordinatorConfig.Limits {
    /// Every key optional; each within its range.
    func validated(_ file: ConfigFile) throws(ConfigError) -> ServerLimits {
        var limits = ServerLimits()
        func count(_ value: Int?, _ key: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
            guard let value else { return nil }
            guard range.contains(value) else {
                throw ConfigError(
                    "\(file.source): limits.\(key) must be a number within \(range.lowerBound)...\(range.upperBound), "
                        + "got '\(value)'"
                )
            }
            return value
        }
        if let value = try count(connections, "connections", 16...1_000_000) { limits.connections = value }
        if let value = try count(connectionsPerAddress, "connectionsPerAddress", 4...1_000_000) {
            limits.connectionsPerAddress = value
        }
        if let value = try count(adminWorkers, "adminWorkers", 1...64) { limits.adminWorkers = value }
        if let value = try count(adminQueue, "adminQueue", 0...10_000) { limits.adminQueue = value }
        if let value = try count(reportQueue, "reportQueue", 0...10_000) { limits.reportQueue = value }
        if let value = try count(failedAuthenticationsPerMinute, "failedAuthenticationsPerMinute", 1...1_000_000) {
            limits.failedAuthenticationsPerMinute = value
        }
        for (key, raw, path) in [
            ("idleTimeout", idleTimeout, \ServerLimits.idleTimeout),
            ("bodyTimeout", bodyTimeout, \ServerLimits.bodyTimeout),
        ] {
            let value = try file.duration(raw, key: "limits.\(key)", default: limits[keyPath: path])
            guard value >= .seconds(1), value <= .seconds(24 * 3600) else {
                throw ConfigError("\(file.source): limits.\(key) must lie within 1s...24h, got '\(raw ?? "")'")
            }
            limits[keyPath: path] = value
        }
        return limits
    }
}
