import ChainModel
import ClusterAPI
import ClusterAuthority
import ClusterEtcd
import ClusterStore
import ClusterTLS
import DecisionEngine
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// The coordinator service: the cluster database and the HTTP API over it.
public struct Coordinator: Sendable {
    public let config: CoordinatorConfig
    public let store: ClusterStore
    /// Where the state that must never diverge lives: `store` itself (embedded) or etcd.
    public let authority: any CoordinationStore
    /// Whether this coordinator leads, and who does.
    let leadership: Leadership
    /// The migrations this process is moving forward now.
    let driving = DrivenMigrations()
    public let metrics: PrometheusCollectorRegistry
    /// Commands for agents and their answers (memory only).
    let board = CommandBoard()
    let placements: PlacementCache
    /// The dashboard's last full audit, and its log-in sessions (memory only).
    let audits = AuditCache()
    /// The audit kept up to date: what `audit`, `vms` and the dashboard read (issue 27).
    let maintainedAudit = MaintainedAudit()
    let sessions = DashboardSessions()
    /// The accepted tokens, replaced on reload.
    let access: AccessHolder
    /// The TLS material the running server uses, once `application` made it.
    let serverIdentity = IdentitySlot()
    /// The failover manager's memory (leases, fence commands and failovers under way).
    let failover: FailoverState
    /// How many of the planned failovers run at once (`failover.concurrency`).
    let failoverQueue: FailoverQueue
    /// Wall-clock time, injected so tests control it.
    let now: @Sendable () -> Timestamp
    /// The threads blocking work runs on, so that it never holds a heartbeat (issue 20).
    let lanes: WorkLanes
    /// Failed authentications per peer address.
    let throttle: AuthenticationThrottle
    /// Whether reports may still rebuild ownership (a new, lost or restored database, for one lease).
    let rebuild: OwnershipRebuild
    /// Shared volumes nodes renewing their lease cannot write to (SPEC §6, `volume-lost`).
    let storageLoss = StorageLossBook()

    public init(
        config: CoordinatorConfig,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        now: @escaping @Sendable () -> Timestamp = Coordinator.wallClock
    ) throws(StoreError) {
        self.config = config
        try? FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true)
        self.store = try ClusterStore(path: (config.dataDir as NSString).appendingPathComponent("cluster.sqlite"))
        self.placements = PlacementCache(store: store)
        self.metrics = metrics
        self.now = now
        leadership = Leadership(me: LeaderInfo(name: config.advertisedURL, url: config.advertisedURL))
        switch config.store {
        case .sqlite:
            authority = EmbeddedCoordinationStore(store: store)
            // One coordinator per database: it leads from the start (a restart of the same one takes over at once).
            guard let term = try store.campaign(as: leadership.me, ttl: config.leadershipLease, at: now()) else {
                let holder = try? store.leader(at: now())
                throw StoreError(
                    .conflict,
                    "another coordinator (\(holder?.leader.url ?? "unknown")) is using the database in "
                        + "\(config.dataDir); stop it first, or give this one its own dataDir"
                )
            }
            leadership.elected(term)
        case .etcd(let endpoints, let prefix):
            // A standby until the leadership loop wins an election.
            // A member that neither answers nor refuses (a follower waiting out an election) is left after a quarter
            // lease (0.5-2 s), so one slow member cannot cost this coordinator its lease.
            let perMember = max(Duration.milliseconds(500), min(.seconds(2), config.leaderLeaseTTL / 4))
            authority = EtcdCoordinationStore(
                etcd: EtcdClient(endpoints: endpoints, timeout: perMember),
                prefix: prefix
            )
        }
        access = AccessHolder(AccessControl(config))
        lanes = WorkLanes(limits: config.limits, metrics: metrics)
        failoverQueue = FailoverQueue(limit: config.failoverConcurrency, metrics: metrics)
        throttle = AuthenticationThrottle(limit: config.limits.failedAuthenticationsPerMinute)
        var rebuildReason: String?
        if case .sqlite = config.store {
            if let taken = try store.backupOrigin() {
                rebuildReason =
                    "the database was restored from a backup taken at \(Date(timeIntervalSince1970: Double(taken.millisecondsSinceEpoch) / 1000).ISO8601Format())"
            } else if try store.knowsNoVM() {
                rebuildReason = "the database knows no VM (it is new, or was lost)"
            }
        }
        rebuild = OwnershipRebuild(reason: rebuildReason, lease: config.leaseTTL)
        failover = FailoverState(
            settings: HASettings(
                leaseTTL: config.leaseTTL,
                hasFenceCommand: config.fenceCommand != nil,
                failoverEnabled: config.failoverEnabled,
                quarantineThreshold: config.quarantineThreshold
            )
        )
    }

    /// Why reports may rebuild ownership for the first lease (a new, lost or restored database), or `nil`.
    public var ownershipRebuildReason: String? { rebuild.reason }

    public static let wallClock: @Sendable () -> Timestamp = {
        Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
    }

    var settings: ClusterSettings {
        ClusterSettings(
            probeInterval: config.probeInterval,
            inventoryMaxAge: config.inventoryMaxAge,
            maxChainDepth: config.maxChainDepth,
            minFreeSpacePercent: config.minFreeSpacePercent
        )
    }

    /// The VM a request names (its id, or else its name) in full, and the engine's view of the cluster around it:
    /// what `check` and `migrate` judge with, without reading every file in the cluster.
    ///
    /// Throws `not-found` (404) or `ambiguous` (409, several VMs share the name).
    public func judged(_ key: String, viewMaxAge: Duration? = nil) throws -> (vm: VM, view: ClusterView) {
        let (vms, view) = try placements.judged(key, store: store, now: now(), settings: settings, maxAge: viewMaxAge)
        guard let vm = vms.first else { throw APIError.notFound("no VM is named or identified '\(key)'") }
        guard vms.count == 1 else {
            throw APIError(
                .conflict,
                "ambiguous",
                "\(vms.count) VMs are named '\(key)'; use an id: " + vms.map(\.id.rawValue).joined(separator: ", ")
            )
        }
        return (vm, view)
    }

    /// `whatif fail`'s answer: the plan, and for each held VM that is stranded, the volume a repair now would use
    /// (only when that repair would be allowed: failover itself never repairs, the source is gone).
    public func whatIf(_ node: NodeName) throws -> WhatIfResponse {
        let plan = try whatIfFails(node)
        var hints: [VMID: String] = [:]
        for held in plan.blocked {
            guard let (vm, view) = try? judged(held.vm.rawValue), !RepairRule.strandedFiles(vm, in: view).isEmpty,
                let volume = RepairRule.suggestedVolume(vm, in: view),
                RepairRule.plan(vm, to: volume, in: view).allowed
            else { continue }
            hints[vm.id] = view.volumes[volume]?.name ?? volume.rawValue
        }
        return WhatIfResponse(plan, repairTo: hints)
    }

    /// What would happen if `node` failed now: the plan and the blocked VMs, changing nothing.
    ///
    /// Throws `not-found` (404) for an unknown node.
    public func whatIfFails(_ node: NodeName) throws -> FailoverPlan {
        let view = try placementView()
        guard view.nodes[node] != nil else { throw APIError.notFound("no node is named '\(node)'") }
        let record = try store.failoverRecord(since: now() - .seconds(90 * 24 * 3600))
        return FailoverPlanner.plan(
            failing: node,
            vms: try store.vms(ownedBy: node),
            in: view,
            memory: FailoverMemory(failovers: record.failovers, blocked: record.blocked)
        )
    }

    /// Finishes the migrations a previous run left in the journal; run once at start, before serving.
    public func recoverMigrations(logger: Logger) async {
        await Migrator(coordinator: self, logger: logger).recover()
    }

    /// Reads every VM's audit facts once, in the background after start, so the first `audit` or dashboard page does
    /// not pay for it (about 1.3 s at 9,000 VMs, ten times that at 80,000).
    public func warmAudit(logger: Logger) async {
        let started = ContinuousClock.now
        await withTaskExecutorPreference(lanes.admin) {
            do {
                let audit = try audit()
                logger.info(
                    "audit facts read",
                    metadata: [
                        "vms": .stringConvertible(audit.vms.count), "risks": .stringConvertible(audit.risks.count),
                        "took": .string(DurationText.format(ContinuousClock.now - started)),
                    ]
                )
            } catch {
                logger.warning("cannot read the audit facts yet (the first audit will): \(error)")
            }
        }
    }

    /// The failover manager's rounds (every 500 ms), as a service beside the application.
    public func failoverLoop(logger: Logger) -> some Service { FailoverLoop(coordinator: self, logger: logger) }

    /// Listed after the application in a ServiceGroup (so shut down first), it ends agents' long-polls.
    public var shutdownHelper: some Service { CommandBoardCloser(board: board) }

    /// The HTTP application, listening where the config says (port 0 picks a free one): every route.
    ///
    /// With `tls` in the config it serves HTTPS and reads client certificates (SPEC §2); a TLS file that cannot be
    /// loaded is an error, never a silent fall back to plain HTTP. Connections are counted, capped and timed
    /// (`ServerLimits`).
    public func application(logger: Logger) throws -> some ApplicationProtocol {
        try application(
            routes: .all,
            host: config.listenHost,
            port: config.listenPort,
            registry: ConnectionRegistry(listener: "main", limits: config.limits, logger: logger),
            logger: logger
        )
    }

    /// The second listener of `agentListen` (SPEC §2), serving only the agent routes (and `/healthz`), with its own
    /// connection limits: admin and dashboard clients never compete with heartbeats there.
    ///
    /// `nil` without the key.
    public func agentApplication(logger: Logger) throws -> (some ApplicationProtocol)? {
        guard let listen = config.agentListen else { return nil as Application<RouterResponder<CoordinatorContext>>? }
        return try application(
            routes: .agents,
            host: listen.host,
            port: listen.port,
            registry: ConnectionRegistry(listener: "agent", limits: config.limits, logger: logger),
            logger: logger
        )
    }

    private func application(
        routes: CoordinatorRoutes.Selection,
        host: String,
        port: Int,
        registry: ConnectionRegistry,
        logger: Logger
    ) throws -> Application<RouterResponder<CoordinatorContext>> {
        let http = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionGuardHandler(registry: registry)],
            idleTimeout: .nanoseconds(Int64(config.limits.idleTimeout.wholeMilliseconds) * 1_000_000)
        )
        let server: HTTPServerBuilder
        if let tls = config.tls {
            let identity =
                try serverIdentity.value.withLock { $0 }
                ?? ServerIdentity(certificate: tls.certificate, key: tls.key, clientCA: tls.clientCA)
            serverIdentity.value.withLock { $0 = identity }
            let check = ClientCertificateCheck(identity: identity) { message in logger.warning("\(message)") }
            server = try .tls(
                .http1(configuration: http),
                configuration: TLSChannelConfiguration(
                    tlsConfiguration: identity.configuration(),
                    customAsyncVerificationCallback: { certificates in await check.verify(certificates) }
                )
            )
        } else {
            server = .http1(configuration: http)
        }
        return Application(
            router: CoordinatorRoutes(coordinator: self, logger: logger).router(routes),
            server: server,
            // A backlog as deep as the kernel allows (net.core.somaxconn caps it): when a client reopens thousands of
            // connections at once, an agent's new connection must not have its SYN dropped behind them (a dropped SYN
            // is retried after 1 s, then 3 s: long enough to cost a lease).
            configuration: .init(
                address: .hostname(host, port: port),
                serverName: "chainkeeperd",
                backlog: ServerLimits.listenBacklog
            ),
            logger: logger
        )
    }

    /// Replaces the accepted tokens with those of `config` (a SIGHUP reload: rotated tokens take effect at once).
    public func reloadTokens(from config: CoordinatorConfig) {
        access.replace(AccessControl(config))
    }

    /// Reads the TLS files `config` names again (a SIGHUP reload).
    ///
    /// New connections get the new server certificate and are checked against the new client CA. Returns whether
    /// there was TLS to reload.
    public func reloadTLS(from config: CoordinatorConfig) throws(TLSError) -> Bool {
        guard let tls = config.tls, let identity = serverIdentity.value.withLock({ $0 }) else { return false }
        try identity.reload(certificate: tls.certificate, key: tls.key, clientCA: tls.clientCA)
        return true
    }
}

/// Where `application` leaves the running server's TLS material for a reload.
final class IdentitySlot: Sendable {
    let value = Mutex<ServerIdentity?>(nil)
}
