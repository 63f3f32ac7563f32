import Agent
import AsyncHTTPClient
import ChainModel
import ClusterAPI
import ClusterClient
import ClusterTLS
import Crypto
import DecisionEngine
import DiskFormats
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import ShellHooks
import Synchronization

/// `chainkeeperd agent`: rescans the node, keeps its reports in the outbox until the coordinator has them, and
/// heartbeats.
///
/// Three loops share one lifetime: rescan (every `rescan`, first at start), delivery (drains the outbox in order,
/// backing off while no coordinator answers) and heartbeat (every `heartbeat`). A graceful shutdown stops all three;
/// whatever is still in the outbox is sent by the next start.
public final class AgentService: Service, Sendable {
    public let config: AgentConfig
    let database: AgentDatabase
    /// The same database, called off the cooperative pool (see `AgentDatabaseWorker`).
    let stored: AgentDatabaseWorker
    let logger: Logger
    /// Created by `run` and shut down when it ends, so an agent that never ran leaves nothing open.
    private let http = Mutex<HTTPClient?>(nil)
    /// Which coordinator leads, as the last accepted message said (kept across messages).
    private let leaderHint = CoordinatorCaller.LeaderHint()
    let scanner: ScanWorker
    private let settings: Mutex<CoordinatorAnnouncement>
    /// The agent's lease (SPEC §6); it acts as an owner only while admitted.
    let lease: Mutex<AgentLease>
    /// `nil` when no watchdog executable was given (in-process tests).
    let watchdog: WatchdogKeeper?
    /// VMs in the last report: a graceful stop leaves the watchdog armed while there are any.
    private let reportedVMs = Mutex<Int>(0)
    /// Whether a rescan for a libvirt change is already due.
    let libvirtChangePending = Mutex<Bool>(false)
    /// The hypervisor metadata of the last rescan, by VM id.
    let latestMetadata = Mutex<[String: HypervisorMetadata]>([:])
    /// Which VM entries the coordinator has (issue 27): a report sends those by digest only.
    let reportDigests = Mutex(ReportDigests())
    /// Operations (checkpoints) by journal id: a repeat of an apply joins the run under way, or gets its outcome.
    let operations = Mutex(OperationBook())
    /// HTTPS to the coordinator with this node's client certificate, when `tls` is configured.
    let tlsConfiguration: TLSConfiguration?
    private let wake: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)
    /// The coordinator's requests for a report at once (`HeartbeatAnswer.reportWanted`).
    private let reportAsked = RequestGate()
    /// The coordinator's requests to read the probe directories again (`ReportAnswer.probeAgain`).
    private let probeAsked = RequestGate()
    /// This node's storage heartbeat and its readings of its peers' (SPEC §6).
    let storage: StorageHeartbeats

    /// `watchdogExecutable` is the `chainkeeperd` binary the watchdog is started from (`chainkeeperd watchdog`).
    public init(config: AgentConfig, logger: Logger, watchdogExecutable: String? = nil) throws(AgentStoreError) {
        do {
            try FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true)
        } catch {
            throw AgentStoreError("cannot create dataDir \(config.dataDir): \(error.localizedDescription)")
        }
        self.config = config
        self.logger = logger
        database = try AgentDatabase(path: LocalPath.join(config.dataDir, "agent.sqlite"))
        stored = try AgentDatabaseWorker(database)
        scanner = ScanWorker(config: config, headers: try database.loadHeaders())
        settings = Mutex(CoordinatorAnnouncement(leaseTTLMilliseconds: 10_000, probeIntervalMilliseconds: 300_000))
        wake = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        lease = Mutex(AgentLease(leaseTTL: .seconds(10), watchdogTimeout: config.watchdogTimeout))
        storage = StorageHeartbeats(node: NodeName(config.node))
        if let tls = config.tls {
            do {
                tlsConfiguration = try TLSSettings.client(ca: tls.ca, certificate: tls.certificate, key: tls.key)
            } catch {
                throw AgentStoreError(error.message)
            }
        } else {
            tlsConfiguration = nil
        }
        watchdog = watchdogExecutable.map { WatchdogKeeper(executable: $0, config: config, logger: logger) }
    }

    public func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tlsConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        http.withLock { $0 = client }
        logger.info(
            "agent started",
            metadata: [
                "node": .string(config.node), "coordinator": .string(config.coordinators.joined(separator: ",")),
                "outbox": .stringConvertible(stored.outboxDepth),
            ]
        )
        // Anything left from a previous run goes first.
        wake.continuation.yield()
        var watch: LibvirtWatch?
        if config.libvirt != nil, case .libvirt(let domains, let snapshots, _, let live, _) = config.inventory {
            watch = LibvirtWatch(domains: domains, snapshots: snapshots, live: live)
            watch?.start { [self] in libvirtChanged() }
        }
        defer { watch?.stop() }
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.rescanLoop() }
                group.addTask { await self.deliveryLoop() }
                group.addTask { await self.heartbeatLoop() }
                group.addTask { await self.commandLoop() }
                group.addTask { await self.leaseLoop() }
                group.addTask { await self.storageLoop() }
                await group.waitForAll()
            }
        }
        if let watchdog {
            let vms = reportedVMs.withLock { $0 }
            if vms == 0 || lease.withLock({ $0.standing != .admitted }) {
                watchdog.write(.exit)
            } else {
                logger.notice(
                    """
                    the watchdog stays armed: this node reports \(vms) VMs, and fences itself unless an agent is back \
                    and admitted within the watchdog timeout
                    """
                )
            }
        }
        wake.continuation.finish()
        http.withLock { $0 = nil }
        try? await client.shutdown()
        logger.info("agent stopped", metadata: ["outbox": .stringConvertible(stored.outboxDepth)])
    }

    /// Scans now and queues the report; returns it (for tests and the first start).
    @discardableResult
    public func rescanOnce() async -> AgentReport? {
        let probeInterval = Duration.milliseconds(settings.withLock { $0.probeIntervalMilliseconds })
        let started = ContinuousClock.now
        let handOffs =
            (try? await stored.run { db throws(AgentStoreError) in try db.handOffs() })
            ?? (adopted: [], released: [], epochs: [:])
        let adopted = handOffs.adopted.compactMap { try? JSONDecoder().decode(VMDefinition.self, from: $0) }
        var result = await scanner.scan(
            probeInterval: probeInterval,
            adopted: adopted,
            released: handOffs.released
        )
        // The epochs this node adopted at, so a coordinator that lost its database can rebuild ownership.
        for index in result.report.vms.indices {
            result.report.vms[index].epoch = handOffs.epochs[result.report.vms[index].id]
        }
        for warning in result.warnings { logger.warning("\(PrintableText.escape(warning))") }
        // What the coordinator would refuse (SPEC §8 bounds) becomes an inventory error here, so one odd VM never
        // keeps the whole node's report out.
        result.report.hypervisorURI = config.libvirt?.peerURI
        // The metadata goes by digest; its body only when a coordinator asks (`uploadMetadata`).
        for index in result.report.vms.indices {
            result.report.vms[index].metadataDigest = result.metadata[result.report.vms[index].id]?.digest {
                SHA256.hash(data: $0)
            }
        }
        let (report, removed) = result.report.bounded()
        result.report = report
        result.report.vms = result.report.vms.map { $0.withDigest { SHA256.hash(data: $0) } }
        latestMetadata.withLock { $0 = result.metadata }
        watchdog?.writeFenceList(
            report.vms.filter { $0.highlyAvailable && ($0.state.raw == "Running" || $0.state.raw == "Paused") }.map(
                \.id
            )
        )
        storage.learn(from: report)
        for problem in removed { logger.warning("\(problem)") }
        reportedVMs.withLock { $0 = result.report.vms.count }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let wire = reportDigests.withLock { $0.wire(result.report) }
            let body = try encoder.encode(wire)
            let (changed, seen) = (result.changedHeaders, result.seenHeaders)
            try await stored.run { db throws(AgentStoreError) in
                try db.saveHeaders(changed, keeping: seen)
                try db.enqueueReport(body, at: Timestamp.now())
            }
            reportDigests.withLock { $0.queued(body, of: result.report) }
        } catch {
            logger.error("cannot queue the report: \(error)")
            return nil
        }
        logger.info(
            "rescan",
            metadata: [
                "vms": .stringConvertible(result.report.vms.count),
                "volumes": .stringConvertible(result.report.volumes.count),
                "headersParsed": .stringConvertible(result.parses), "headersCached": .stringConvertible(result.hits),
                "took": .string("\(ContinuousClock.now - started)"),
            ]
        )
        wake.continuation.yield()
        return result.report
    }

    private func rescanLoop() async {
        while !Task.isCancelled {
            await rescanOnce()
            try? await Task.sleep(for: config.rescan)
        }
    }

    /// Sends the outbox in order; a message leaves it only once a coordinator accepted it.
    private func deliveryLoop() async {
        var backoff = Duration.milliseconds(250)
        for await _ in wake.stream {
            while !Task.isCancelled {
                let message: OutboxMessage?
                do {
                    message = try await stored.run { db throws(AgentStoreError) in try db.nextMessage() }
                } catch {
                    logger.error("\(error)")
                    break
                }
                guard let message else { break }
                do {
                    let answer = try await client.postEverywhere(
                        "report",
                        body: message.body,
                        timeout: .seconds(60),
                        others: { [weak self] answer in self?.resend(askedIn: answer) }
                    )
                    let sequence = message.sequence
                    try? await stored.run { db throws(AgentStoreError) in try db.markDelivered(sequence) }
                    reportDigests.withLock { $0.delivered(message.body) }
                    resend(askedIn: answer)
                    if let decoded = try? JSONDecoder().decode(ReportAnswer.self, from: answer) {
                        settings.withLock { $0 = decoded.settings }
                        if decoded.probeAgain == true { probeAgain() }
                        if let missing = decoded.missingMetadata, !missing.isEmpty {
                            Task { await self.uploadMetadata(for: missing) }
                        }
                    }
                    if message.attempts > 0 {
                        logger.info("delivered a queued report", metadata: ["attempts": "\(message.attempts + 1)"])
                    }
                    backoff = .milliseconds(250)
                } catch {
                    let (sequence, reason) = (message.sequence, error.message)
                    try? await stored.run { db throws(AgentStoreError) in try db.markFailed(sequence, reason: reason) }
                    if message.attempts == 0 || message.attempts % 20 == 0 {
                        logger.warning("report queued, coordinator not reachable: \(error.message)")
                    }
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(15))
                }
            }
        }
    }

    /// Heartbeats every `heartbeat` (every 500 ms once less than half the lease is left); each answer renews the
    /// lease, readmits the node, or tells it to fence itself.
    private func heartbeatLoop() async {
        let encoder = JSONEncoder()
        while !Task.isCancelled {
            let sentAt = Self.monotonicNow()
            let admitted = lease.withLock { $0.standing == .admitted }
            let ttl = lease.withLock { $0.leaseTTL }
            var beat = Heartbeat(
                outbox: stored.outboxDepth,
                admitted: admitted,
                storage: storage.report(at: sentAt, period: ttl / 5)
            )
            beat.isolationStopDigest = storage.isolationStopDigest
            var body = (try? encoder.encode(beat)) ?? Data()
            // Under the coordinator's body limit whatever the readings: the freshest are left out first.
            while body.count > StorageHeartbeatReport.maxEncodedBytes, let count = beat.storage?.readings.count,
                count > 0
            {
                beat.storage?.readings.removeLast(max(1, count / 2))
                body = (try? encoder.encode(beat)) ?? Data()
            }
            // A heartbeat stuck for longer than 2/5 of the lease (a SYN dropped behind a flood of connections, a
            // connection the coordinator just closed) is given up, so that the next one, on a fresh connection, still
            // renews the lease before 4/5 of it has passed: one stuck heartbeat must not cost the lease, and a slow
            // coordinator's answer within 2/5 of the lease still counts.
            let timeout = max(Duration.milliseconds(500), min(Duration.seconds(5), ttl * 2 / 5))
            do {
                let answer = try await client.post(
                    "heartbeat",
                    body: body,
                    timeout: .milliseconds(timeout.wholeMilliseconds)
                )
                if let decoded = try? JSONDecoder().decode(HeartbeatAnswer.self, from: answer) {
                    settings.withLock { $0 = decoded.settings }
                    await handle(decoded, sentAt: sentAt)
                }
                // The coordinator is back: anything queued goes now, not at the next backoff.
                if stored.outboxDepth > 0 { wake.continuation.yield() }
            } catch {
                logger.debug("heartbeat not delivered: \(error.message)")
            }
            let pause = lease.withLock { $0.nextHeartbeat(after: config.heartbeat, at: Self.monotonicNow()) }
            try? await Task.sleep(for: pause)
        }
    }

    /// libvirt changed its XML (`LibvirtWatch`): rescan half a second after the last change of a burst, so that a
    /// snapshot, a define or a start reaches the coordinator within a second, not at the next rescan.
    func libvirtChanged() {
        guard
            libvirtChangePending.withLock({ pending in
                defer { pending = true }
                return !pending
            })
        else { return }
        Task {
            try? await Task.sleep(for: .milliseconds(500))
            libvirtChangePending.withLock { $0 = false }
            await self.rescanOnce()
        }
    }

    /// Rescans soon (after a readmission), without waiting for the rescan interval.
    func wakeRescan() {
        Task { await self.rescanOnce() }
    }

    /// A report answer's `resendVMs`: those entries go whole with the next report, which is made at once.
    func resend(askedIn answer: Data) {
        guard let decoded = try? JSONDecoder().decode(ReportAnswer.self, from: answer),
            let vms = decoded.resendVMs, !vms.isEmpty
        else { return }
        reportDigests.withLock { $0.forget(vms) }
        logger.info("the coordinator asked for whole entries again", metadata: ["vms": .stringConvertible(vms.count)])
        wakeRescan()
    }

    /// Another node reports a volume this node's mount of is not verified yet (its own nonce never proves a volume
    /// shared, and the other node's may not have existed at this rescan): rescan in two seconds, once a minute at
    /// most, so that a volume that cannot be verified costs no more than one extra rescan a minute.
    func probeAgain() {
        guard probeAsked.admits(every: .seconds(60)) else { return }
        Task {
            try? await Task.sleep(for: .seconds(2))
            await self.rescanOnce()
        }
    }

    /// The coordinator is rebuilding ownership and has no report from this node: rescan now (once in 10 s at most,
    /// since the answer says so until the report arrives).
    func reportWanted() {
        guard reportAsked.admits(every: .seconds(10)) else { return }
        logger.notice("the coordinator is rebuilding ownership from the agents: reporting now")
        wakeRescan()
    }

    var client: CoordinatorClient {
        CoordinatorClient(
            client: http.withLock { $0 } ?? HTTPClient.shared,
            urls: config.coordinators,
            node: config.node,
            token: config.token,
            leader: leaderHint
        )
    }
}

/// The scan and its state (the header cache and when each probe nonce was written), confined to one serial queue so
/// that blocking file I/O never occupies the cooperative thread pool.
final class ScanWorker: @unchecked Sendable {
    struct Result: Sendable {
        var report: AgentReport
        var warnings: [String]
        /// The hypervisor metadata of the VMs the inventory lists, by VM id (uploaded when a coordinator asks).
        var metadata: [String: HypervisorMetadata]
        var changedHeaders: [CachedHeader]
        var seenHeaders: Set<String>
        var hits: Int
        var parses: Int
    }

    private let queue = DispatchQueue(label: "chainkeeper.agent.scan")
    let scanner: NodeScanner
    // Confined to `queue`.
    private let cache: HeaderCache
    private var probeWritten: [String: ContinuousClock.Instant] = [:]

    init(config: AgentConfig, headers: [String: CachedHeader]) {
        scanner = NodeScanner(
            node: config.node,
            volumeDirectories: config.volumes,
            inventory: Self.source(config.inventory),
            pathMap: PathMap(
                config.pathMap.sorted { $0.key < $1.key }.map {
                    PathMap.Entry(windowsPrefix: $0.key, localDirectory: $0.value)
                }
            ),
            memoryMiB: config.memoryMiB,
            sharedSources: config.sharedSources
        )
        cache = HeaderCache(headers)
    }

    /// The inventory driver the config names (SPEC §4).
    static func source(_ inventory: AgentConfig.Inventory) -> any InventorySource {
        switch inventory {
        case .hypervJSON(let path): HyperVJSONSource(path: path)
        case .libvirt(let domains, let snapshots, let stateCommand, let live, let swtpm):
            LibvirtSource(domains: domains, snapshots: snapshots, stateCommand: stateCommand, live: live, swtpm: swtpm)
        }
    }

    func scan(probeInterval: Duration, adopted: [InventoryVM], released: Set<String>) async -> Result {
        await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(
                    returning: self.scanOnQueue(probeInterval: probeInterval, adopted: adopted, released: released)
                )
            }
        }
    }

    /// Runs `work` on the scan queue with the scanner and the header cache.
    func onQueue<T: Sendable>(_ work: @escaping @Sendable (NodeScanner, HeaderCache) -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work(self.scanner, self.cache)) }
        }
    }

    private func scanOnQueue(probeInterval: Duration, adopted: [InventoryVM], released: Set<String>) -> Result {
        let volumes = scanner.volumes()
        let now = ContinuousClock.now
        var nonces: [String: String] = [:]
        for volume in volumes {
            // A volume seen for the first time is probed at once; then once per probe interval.
            if let written = probeWritten[volume.marker.id], now - written < probeInterval { continue }
            nonces[volume.marker.id] = Self.nonce()
            probeWritten[volume.marker.id] = now
        }
        let seenVolumes = Set(volumes.map(\.marker.id))
        probeWritten = probeWritten.filter { seenVolumes.contains($0.key) }
        let (report, warnings, metadata) = scanner.report(
            volumes: volumes,
            newNonces: nonces,
            fileSystem: cache,
            adopted: adopted,
            released: released,
            now: Timestamp.now(),
            probeInterval: probeInterval
        )
        let changes = cache.takeChanges()
        return Result(
            report: report,
            warnings: warnings,
            metadata: metadata,
            changedHeaders: changes.changed,
            seenHeaders: changes.seen,
            hits: changes.hits,
            parses: changes.parses
        )
    }

    /// 128 random bits as hex.
    static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension Timestamp {
    /// The wall clock now (the shells' only source of wall time).
    static func now() -> Timestamp {
        Timestamp(millisecondsSinceEpoch: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
    }
}

/// Lets a request through at most once a period (the coordinator repeats its requests until they are met).
final class RequestGate: Sendable {
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    func admits(every period: Duration) -> Bool {
        let now = ContinuousClock.now
        return last.withLock { last in
            guard last.map({ now - $0 >= period }) ?? true else { return false }
            last = now
            return true
        }
    }
}
