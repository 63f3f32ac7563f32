import ChainModel
import Foundation
import Yams

/// The coordinator's config file (SPEC §2), YAML or JSON.
///
/// Scalar keys can be overridden by `CHAINKEEPERD_<KEY>` variables; unknown keys are reported, not fatal; a bad value
/// is an error.
public struct CoordinatorConfig: Sendable, Equatable {
    public var listenHost = "127.0.0.1"
    public var listenPort = 7400
    public var dataDir: String
    public var adminTokens: [String] = []
    /// Node name → accepted tokens (several during rotation).
    public var agentTokens: [String: [String]] = [:]
    public var leaseTTL: Duration = .seconds(10)
    public var inventoryMaxAge: Duration = .seconds(300)
    public var probeInterval: Duration = .seconds(300)
    /// Largest request body accepted, in bytes (not in the SPEC; a 1,000-VM report is a few MiB).
    public var maxBodyBytes = 64 << 20
    /// How long the coordinator waits for an agent to answer a migration step (not in the SPEC; above `hookTimeout`).
    public var commandTimeout: Duration = .seconds(90)
    /// `fence.command`: run (with `CHAINKEEPER_NODE`) before a down node is failed over; must exit 0.
    public var fenceCommand: String?
    /// `fence.timeout`: a fence command still running after it has failed.
    public var fenceTimeout: Duration = .seconds(60)
    /// `failover.enabled`.
    public var failoverEnabled = true
    /// `tls`: the coordinator serves HTTPS with this certificate and accepts client certificates signed by `clientCA`.
    public var tls: TLSFiles?
    /// `store`: where the state that must never diverge lives.
    public var store: StoreBackend = .sqlite
    /// `leaderLeaseTTL`: how long an active coordinator's leadership outlives its last renewal.
    public var leaderLeaseTTL: Duration = .seconds(10)
    /// `advertise` (not in the SPEC): the URL other coordinators send admins and agents to when this one leads;
    /// by default `http(s)://` and `listen`.
    public var advertise: String?
    /// `agentListen` (SPEC §2): a second listener serving only the agent routes.
    public var agentListen: ListenAddress?
    /// `limits` (not in the SPEC): connection caps, timeouts and work lanes (docs/api.md).
    public var limits = ServerLimits()

    /// A `host:port` to listen on.
    public struct ListenAddress: Sendable, Equatable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// SPEC §2's `store` key.
    public enum StoreBackend: Sendable, Equatable {
        /// The embedded default: the coordinator's own SQLite database.
        case sqlite
        /// etcd 3.4 members' client URLs, and the key prefix this cluster's state lives under.
        case etcd(endpoints: [String], prefix: String)
    }

    /// Where this coordinator says it can be reached.
    public var advertisedURL: String {
        if let advertise { return advertise }
        let host = listenHost.contains(":") ? "[\(listenHost)]" : listenHost
        return "\(tls == nil ? "http" : "https")://\(host):\(listenPort)"
    }

    /// The PEM files of SPEC §2's `tls` key.
    public struct TLSFiles: Sendable, Equatable {
        public var certificate: String
        public var key: String
        public var clientCA: String

        public init(certificate: String, key: String, clientCA: String) {
            self.certificate = certificate
            self.key = key
            self.clientCA = clientCA
        }
    }

    public init(dataDir: String) { self.dataDir = dataDir }

    static let knownKeys: Set<String> = [
        "listen", "dataDir", "adminTokens", "agentTokens", "leaseTTL", "leaderLeaseTTL", "inventoryMaxAge",
        "probeInterval", "fence", "failover", "store", "tls", "maxBodyBytes", "commandTimeout",
        "advertise", "agentListen", "limits",
    ]

    /// Reads a config file; `warnings` lists what was ignored.
    public static func load(
        path: String,
        environment: [String: String]
    ) throws(ConfigError) -> (config: CoordinatorConfig, warnings: [String]) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError("cannot read \(path): \(error.localizedDescription)")
        }
        return try parse(text, source: path, environment: environment)
    }

    public static func parse(
        _ text: String,
        source: String,
        environment: [String: String]
    ) throws(ConfigError) -> (config: CoordinatorConfig, warnings: [String]) {
        let root: [String: Any]
        do {
            guard let loaded = try Yams.load(yaml: text) as? [String: Any] else {
                throw ConfigError("\(source) is not a map of keys to values")
            }
            root = loaded
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError("\(source) is not valid YAML or JSON: \(error)")
        }
        var warnings = root.keys.filter { !knownKeys.contains($0) }.sorted().map {
            "unknown key '\($0)' in \(source) ignored"
        }
        var values = root
        for (key, variable) in [
            ("listen", "CHAINKEEPERD_LISTEN"), ("dataDir", "CHAINKEEPERD_DATA_DIR"),
            ("leaseTTL", "CHAINKEEPERD_LEASE_TTL"), ("inventoryMaxAge", "CHAINKEEPERD_INVENTORY_MAX_AGE"),
            ("probeInterval", "CHAINKEEPERD_PROBE_INTERVAL"), ("maxBodyBytes", "CHAINKEEPERD_MAX_BODY_BYTES"),
            ("leaderLeaseTTL", "CHAINKEEPERD_LEADER_LEASE_TTL"), ("advertise", "CHAINKEEPERD_ADVERTISE"),
            ("agentListen", "CHAINKEEPERD_AGENT_LISTEN"),
        ] {
            if let value = environment[variable] { values[key] = value }
        }
        if let tokens = environment["CHAINKEEPERD_ADMIN_TOKENS"] {
            values["adminTokens"] = tokens.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        }
        // The fence command: replaced, or removed when the variable is empty (then lease expiry counts as fenced).
        if let command = environment["CHAINKEEPERD_FENCE_COMMAND"] {
            if command.isEmpty {
                values["fence"] = nil
            } else {
                var fence = values["fence"] as? [String: Any] ?? [:]
                fence["command"] = command
                values["fence"] = fence
            }
        }
        guard let dataDir = values["dataDir"].map({ "\($0)" }), !dataDir.isEmpty else {
            throw ConfigError("\(source): dataDir is required (the directory for the cluster database)")
        }
        var config = CoordinatorConfig(dataDir: dataDir)
        if let listen = values["listen"] {
            let address = try listenAddress(listen, key: "listen", source: source)
            config.listenHost = address.host
            config.listenPort = address.port
        }
        if let listen = values["agentListen"] {
            config.agentListen = try listenAddress(listen, key: "agentListen", source: source)
        }
        if let raw = values["limits"] {
            let parsed = try limits(raw, source: source)
            config.limits = parsed.limits
            warnings += parsed.warnings
        }
        config.adminTokens = try strings(values["adminTokens"], key: "adminTokens", source: source)
        if let raw = values["agentTokens"] {
            guard let map = raw as? [String: Any] else {
                throw ConfigError("\(source): agentTokens must map node names to a token or a list of tokens")
            }
            for (node, tokens) in map {
                let list =
                    tokens is String ? ["\(tokens)"] : try strings(tokens, key: "agentTokens.\(node)", source: source)
                guard !list.isEmpty, list.allSatisfy({ !$0.isEmpty }) else {
                    throw ConfigError("\(source): agentTokens.\(node) has no token")
                }
                config.agentTokens[node] = list
            }
        }
        config.leaseTTL = try duration(values["leaseTTL"], key: "leaseTTL", default: config.leaseTTL, source: source)
        config.inventoryMaxAge = try duration(
            values["inventoryMaxAge"],
            key: "inventoryMaxAge",
            default: config.inventoryMaxAge,
            source: source
        )
        config.probeInterval = try duration(
            values["probeInterval"],
            key: "probeInterval",
            default: config.probeInterval,
            source: source
        )
        config.commandTimeout = try duration(
            values["commandTimeout"],
            key: "commandTimeout",
            default: config.commandTimeout,
            source: source
        )
        if let raw = values["fence"] {
            guard let map = raw as? [String: Any], let command = map["command"].map({ "\($0)" }), !command.isEmpty
            else {
                throw ConfigError("\(source): fence must be {command: STRING, timeout: DURATION}")
            }
            config.fenceCommand = command
            config.fenceTimeout = try duration(
                map["timeout"],
                key: "fence.timeout",
                default: config.fenceTimeout,
                source: source
            )
            warnings += map.keys.filter { $0 != "command" && $0 != "timeout" }.sorted().map {
                "unknown key 'fence.\($0)' in \(source) ignored"
            }
        }
        if let raw = values["tls"] {
            guard let map = raw as? [String: Any], let certificate = map["certificate"].map({ "\($0)" }),
                let key = map["key"].map({ "\($0)" }), let clientCA = map["clientCA"].map({ "\($0)" })
            else {
                throw ConfigError("\(source): tls must be {certificate: FILE, key: FILE, clientCA: FILE}")
            }
            config.tls = TLSFiles(certificate: certificate, key: key, clientCA: clientCA)
        }
        for token in config.adminTokens + config.agentTokens.values.flatMap({ $0 }) where token.hasPrefix("sha256:") {
            let hex = token.dropFirst("sha256:".count)
            guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                throw ConfigError("\(source): a sha256: token must be 64 hex digits (see `chainkeeper token hash`)")
            }
        }
        if let raw = values["failover"] {
            guard let map = raw as? [String: Any] else {
                throw ConfigError("\(source): failover must be {enabled: true|false}")
            }
            if let enabled = map["enabled"] {
                guard let flag = enabled as? Bool else {
                    throw ConfigError("\(source): failover.enabled must be true or false, got '\(enabled)'")
                }
                config.failoverEnabled = flag
            }
        }
        config.leaderLeaseTTL = try duration(
            values["leaderLeaseTTL"],
            key: "leaderLeaseTTL",
            default: config.leaderLeaseTTL,
            source: source
        )
        if let raw = values["advertise"] {
            let url = "\(raw)"
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ConfigError("\(source): advertise must be an http:// or https:// URL, got '\(url)'")
            }
            config.advertise = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        if let raw = values["store"] {
            config.store = try storeBackend(raw, source: source)
        }
        if case .etcd = config.store {
            try checkTakeoverFitsInAgentLease(config, source: source)
        }
        if let raw = values["maxBodyBytes"] {
            guard let bytes = Int("\(raw)"), bytes >= 1024 else {
                throw ConfigError("\(source): maxBodyBytes must be a number of bytes of at least 1024, got '\(raw)'")
            }
            config.maxBodyBytes = bytes
        }
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

    /// With several coordinators, a takeover must end before agents fence themselves.
    ///
    /// A takeover takes up to `leaderLeaseTTL` plus about a second (etcd revokes the dead leader's lease at its next
    /// check, then a standby campaigns); meanwhile no coordinator renews agents' leases. An agent fences itself when its
    /// lease has gone unrenewed for 4/5 of `leaseTTL`, and its heartbeats (every `leaseTTL`/5 by default) take up to
    /// two intervals around the gap. Hence `leaderLeaseTTL` + 1 s ≤ 0.4 × `leaseTTL`.
    static func checkTakeoverFitsInAgentLease(_ config: CoordinatorConfig, source: String) throws(ConfigError) {
        let limit = config.leaseTTL * 2 / 5
        guard config.leaderLeaseTTL + .seconds(1) <= limit else {
            let lease = DurationText.format(config.leaseTTL)
            let leader = DurationText.format(config.leaderLeaseTTL)
            let fitting = DurationText.format(max(.seconds(1), limit - .seconds(1)))
            let neededMilliseconds = ((config.leaderLeaseTTL + .seconds(1)) * 5 / 2).wholeMilliseconds
            let needed = DurationText.format(.seconds((neededMilliseconds + 999) / 1000))
            throw ConfigError(
                """
                \(source): with store.backend etcd, leaderLeaseTTL (\(leader)) plus 1s must be at most 0.4 × leaseTTL \
                (\(lease)): a coordinator takeover takes up to leaderLeaseTTL plus about a second, and agents fence \
                themselves when their lease goes unrenewed for 4/5 of leaseTTL. Set leaderLeaseTTL to \(fitting) or \
                less, or leaseTTL to \(needed) or more
                """
            )
        }
    }

    private static func storeBackend(_ raw: Any, source: String) throws(ConfigError) -> StoreBackend {
        guard let map = raw as? [String: Any], let backend = map["backend"].map({ "\($0)" }) else {
            throw ConfigError(
                "\(source): store must be {backend: sqlite} or {backend: etcd, endpoints: [URL…], prefix: …}"
            )
        }
        switch backend {
        case "sqlite":
            return .sqlite
        case "etcd":
            let endpoints = try strings(map["endpoints"], key: "store.endpoints", source: source)
            guard !endpoints.isEmpty else {
                throw ConfigError("\(source): store.endpoints must list the etcd members' client URLs")
            }
            for endpoint in endpoints where !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
                throw ConfigError("\(source): store.endpoints: '\(endpoint)' is not an http:// or https:// URL")
            }
            let prefix = map["prefix"].map { "\($0)" } ?? "chainkeeper/"
            guard !prefix.isEmpty else { throw ConfigError("\(source): store.prefix must not be empty") }
            return .etcd(endpoints: endpoints, prefix: prefix)
        default:
            throw ConfigError("\(source): store.backend must be sqlite or etcd, got '\(backend)'")
        }
    }

    private static func listenAddress(_ raw: Any, key: String, source: String) throws(ConfigError) -> ListenAddress {
        let text = "\(raw)"
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ConfigError("\(source): \(key) must be host:port, got '\(text)'")
        }
        return ListenAddress(host: String(text[..<colon]), port: port)
    }

    /// The `limits` map: every key optional, each a positive number or duration.
    private static func limits(
        _ raw: Any,
        source: String
    ) throws(ConfigError) -> (limits: ServerLimits, warnings: [String]) {
        guard let map = raw as? [String: Any] else {
            throw ConfigError("\(source): limits must be a map (connections, connectionsPerAddress, idleTimeout, …)")
        }
        var limits = ServerLimits()
        func count(_ key: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
            guard let value = map[key] else { return nil }
            guard let number = Int("\(value)"), range.contains(number) else {
                throw ConfigError(
                    "\(source): limits.\(key) must be a number within \(range.lowerBound)...\(range.upperBound), got '\(value)'"
                )
            }
            return number
        }
        if let value = try count("connections", 16...1_000_000) { limits.connections = value }
        if let value = try count("connectionsPerAddress", 4...1_000_000) { limits.connectionsPerAddress = value }
        if let value = try count("adminWorkers", 1...64) { limits.adminWorkers = value }
        if let value = try count("adminQueue", 0...10_000) { limits.adminQueue = value }
        if let value = try count("reportQueue", 0...10_000) { limits.reportQueue = value }
        if let value = try count("failedAuthenticationsPerMinute", 1...1_000_000) {
            limits.failedAuthenticationsPerMinute = value
        }
        for (key, path) in [("idleTimeout", \ServerLimits.idleTimeout), ("bodyTimeout", \ServerLimits.bodyTimeout)] {
            let value = try duration(map[key], key: "limits.\(key)", default: limits[keyPath: path], source: source)
            guard value >= .seconds(1), value <= .seconds(24 * 3600) else {
                throw ConfigError("\(source): limits.\(key) must lie within 1s...24h, got '\(map[key] ?? "")'")
            }
            limits[keyPath: path] = value
        }
        let known: Set<String> = [
            "connections", "connectionsPerAddress", "idleTimeout", "bodyTimeout", "adminWorkers", "adminQueue",
            "reportQueue", "failedAuthenticationsPerMinute",
        ]
        let warnings = map.keys.filter { !known.contains($0) }.sorted().map {
            "unknown key 'limits.\($0)' in \(source) ignored"
        }
        return (limits, warnings)
    }

    private static func strings(_ raw: Any?, key: String, source: String) throws(ConfigError) -> [String] {
        guard let raw else { return [] }
        guard let list = raw as? [Any] else { throw ConfigError("\(source): \(key) must be a list") }
        return list.map { "\($0)" }
    }

    private static func duration(
        _ raw: Any?,
        key: String,
        default value: Duration,
        source: String
    ) throws(ConfigError) -> Duration {
        guard let raw else { return value }
        guard let parsed = DurationText.parse("\(raw)"), parsed > .zero else {
            throw ConfigError("\(source): \(key) must be a duration such as \"10s\" or \"5m\", got '\(raw)'")
        }
        return parsed
    }
}

/// A config that cannot be used, with what to fix.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
