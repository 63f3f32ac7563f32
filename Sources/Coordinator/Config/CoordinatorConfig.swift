import ChainModel
import ConfigFile
import Foundation

/// The coordinator's config file (SPEC §2), YAML or JSON, read as `ConfigFile` reads both daemons' files
/// (`CoordinatorConfig+Loading`).
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
    /// `failover.concurrency`: how many of a failed node's VMs are failed over at once (the rest wait, in plan order).
    public var failoverConcurrency = 32
    /// `quarantineThreshold`: a node isolated or down more often than this within an hour is quarantined (SPEC §6).
    public var quarantineThreshold = 3
    /// `isolationTimeout`: how long a node is isolated before it stops its VMs whose isolation response is `stop`
    /// (SPEC §6); announced to the agents.
    public var isolationTimeout: Duration = .seconds(30)
    /// `storageLossTimeout`: how long a node renewing its lease may miss a shared volume its VMs use before the audit
    /// reports `volume-lost` (SPEC §6).
    public var storageLossTimeout: Duration = .seconds(60)
    /// `maxChainDepth`: a disk chain deeper than this is audited `checkpoint-limit` (SPEC §5).
    public var maxChainDepth = 32
    /// `minFreeSpace` (a percentage, `5%`): the free-space floor of the audit's `volume-space-low` and of checkpoints.
    public var minFreeSpacePercent = 5.0
    /// `tls`: the coordinator serves HTTPS with this certificate and accepts client certificates signed by `clientCA`.
    public var tls: TLSFiles?
    /// `store`: where the state that must never diverge lives.
    public var store: StoreBackend = .sqlite
    /// `leaderLeaseTTL`: how long an active coordinator's leadership outlives its last renewal, on etcd (SPEC §2).
    public var leaderLeaseTTL: Duration = .seconds(3)

    /// The lease this coordinator's leadership is held on: `leaderLeaseTTL` on etcd; 10 s on the embedded database,
    /// where the lease only keeps a second coordinator off the same files and no standby waits to take over, so a
    /// renewal delayed a few seconds behind a large report's writes must not end it.
    public var leadershipLease: Duration {
        if case .etcd = store { return leaderLeaseTTL }
        return max(leaderLeaseTTL, .seconds(10))
    }
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
}

/// A config that cannot be used, with what to fix.
public typealias ConfigError = ConfigFileError
