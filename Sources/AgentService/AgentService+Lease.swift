import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation
import Logging
import ShellHooks
import Synchronization

extension AgentService {
    /// This process's reading of the host's monotonic clock (shared with the watchdog).
    static func monotonicNow() -> MonotonicTime { MonotonicTime(milliseconds: MonotonicClock.milliseconds()) }

    /// Watches the lease: fences the node before it runs out unrenewed, and feeds the watchdog while more than its
    /// timeout is left (SPEC §6).
    func leaseLoop() async {
        var lastFeed: MonotonicTime?
        var condition = StorageHeartbeat.Condition.running
        while !Task.isCancelled {
            let now = Self.monotonicNow()
            let current = lease.withLock { $0.condition(at: now) }
            if current != condition {
                if current == .isolated {
                    logger.warning(
                        """
                        isolated: the coordinator has not renewed this node's lease, but its storage heartbeat reaches                         every shared volume; its VMs keep running, unmonitored, until the coordinator answers again
                        """
                    )
                } else if condition == .isolated, current == .running {
                    logger.notice("no longer isolated: the coordinator renewed this node's lease")
                    storage.isolationEnded()
                }
                condition = current
            }
            if current == .isolated { respondToIsolation(at: now) }
            let (mustFence, mayFeed, timeout, expiresAt) = lease.withLock {
                ($0.mustFence(at: now), $0.mayFeedWatchdog(at: now), $0.watchdogTimeout, $0.expiresAt)
            }
            if mustFence {
                let left = expiresAt.map { DurationText.format(max(.zero, $0.since(now))) } ?? "0s"
                await fence(because: "its lease runs out in \(left) and the coordinator has not renewed it")
                lastFeed = nil
            } else if mayFeed, lastFeed.map({ now.since($0) >= .milliseconds(500) }) ?? true {
                if lastFeed == nil { watchdog?.ensureRunning() }
                watchdog?.write(.armed(fedAt: now.milliseconds, timeoutMilliseconds: timeout.wholeMilliseconds))
                lastFeed = now
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Stops acting as an owner and runs the fence hook, which must stop or freeze the node's HA VMs.
    func fence(because reason: String) async {
        let now = Self.monotonicNow()
        let wasAdmitted = lease.withLock { lease -> Bool in
            let was = lease.standing == .admitted
            lease.fenced(at: now)
            return was
        }
        guard wasAdmitted else { return }
        watchdog?.write(.disarmed)
        logger.critical("fencing this node: \(reason)")
        guard let hook = config.hooks["fence"] else {
            logger.critical("no fence hook is configured: this node's VMs keep running while others may start them")
            return
        }
        let outcome = await HookRunner.run(
            hook,
            environment: ["CHAINKEEPER_OPERATION": "fence", "CHAINKEEPER_NODE": config.node],
            timeout: config.hookTimeout
        )
        if outcome.succeeded {
            logger.notice("fence hook succeeded; acting on nothing until the coordinator readmits this node")
        } else {
            logger.critical(
                "fence hook failed",
                metadata: [
                    "status": .stringConvertible(outcome.status), "timedOut": .stringConvertible(outcome.timedOut),
                    "output": .string(outcome.output),
                ]
            )
        }
    }

    /// Applies a heartbeat answer: renews the lease, readmits, or fences when the coordinator says the node is down.
    func handle(_ answer: HeartbeatAnswer, sentAt: MonotonicTime) async {
        let ttl = Duration.milliseconds(answer.leaseTTLMilliseconds)
        let configuredTimeout = config.watchdogTimeout
        if answer.reportWanted == true { reportWanted() }
        storage.learn(shared: answer.sharedVolumes, readPeers: answer.readPeers)
        storage.learn(
            isolationStop: answer.isolationStop,
            digest: answer.isolationStopDigest,
            timeout: answer.isolationTimeoutMilliseconds.map { .milliseconds(min(max($0, 0), 86_400_000)) }
        )
        if answer.admitted {
            // Sent when the lease had already reached the point where the agent fences itself: the agent was stalled
            // past it (stopped, or its host frozen), and this answer may come before the lease loop runs again. It
            // fences first, as it would have, so that no renewal carries an owner across a lapse in which its VMs
            // were failed over; the answer to a later heartbeat readmits it.
            if lease.withLock({ $0.standing == .admitted && $0.mustFence(at: sentAt) }) {
                await fence(because: "its lease ran out while this agent was stalled, before this heartbeat was sent")
            }
            let (before, after) = lease.withLock { lease -> (AgentLease.Standing, AgentLease.Standing) in
                lease.leaseTTL = ttl
                lease.watchdogTimeout = configuredTimeout ?? ttl / 2
                lease.fenceLead = ttl / 5
                let before = lease.standing
                lease.renewed(sentAt: sentAt)
                return (before, lease.standing)
            }
            // Readmitted, or back from isolation (the answer lists what it owns now): in its own task, so the next
            // heartbeat never waits for the database.
            if after == .admitted, before != .admitted || answer.owned != nil {
                Task { await self.readmitted(answer) }
            }
        } else if lease.withLock({ $0.standing == .admitted }) {
            await fence(because: "the coordinator says this node is \(answer.state): \(answer.message)")
        } else {
            logger.debug("not readmitted yet: \(answer.message)")
        }
    }

    /// The coordinator readmitted this node (or renewed its lease after an isolation) and said which VMs are its own.
    ///
    /// A VM it had adopted that is not among them was failed over while this node was fenced or isolated, so its
    /// adoption is void (recorded as released: no longer reported
    /// from its definition, and not claimed if the coordinator rebuilds ownership). VMs its hypervisor still lists
    /// stay in its reports, where the audit flags them `registered-on-non-owner`: no release hook unregistered them.
    private func readmitted(_ answer: HeartbeatAnswer) async {
        let now = Timestamp.now()
        let owned = Set((answer.owned ?? []).map(\.vmId))
        let voided =
            (try? await stored.run { db throws(AgentStoreError) -> [String] in
                var voided: [String] = []
                for (vm, epoch) in try db.handOffs().epochs.sorted(by: { $0.key < $1.key }) where !owned.contains(vm) {
                    guard (try? db.record(vm: vm, epoch: epoch, role: "released", definition: nil, at: now)) != nil
                    else { continue }
                    voided.append(vm)
                }
                return voided
            }) ?? []
        for vm in voided {
            logger.notice("\(vm) was failed over while this node was fenced; no longer treated as its own")
        }
        if let handOff = libvirtHandOff, config.hooks["release"] == nil, let elsewhere = answer.elsewhere,
            !elsewhere.isEmpty
        {
            let (forgotten, running) = await Self.blocking { handOff.forget(elsewhere.map(\.vmId)) }
            if !forgotten.isEmpty {
                logger.notice(
                    "undefined the stale libvirt definitions of VMs another node owns now: \(forgotten.joined(separator: ", "))"
                )
            }
            for name in running {
                logger.critical(
                    "\(name) runs on this node's libvirt but another node owns it: stop one of them by hand"
                )
            }
        }
        logger.notice(
            "admitted by the coordinator",
            metadata: [
                "owns": .stringConvertible(answer.owned?.count ?? 0),
                "ownedElsewhere": .stringConvertible(answer.elsewhere?.count ?? 0),
            ]
        )
        wakeRescan()
    }
}

extension AgentService {
    /// Writes this node's storage heartbeat every fifth of the lease and reads its peers' (SPEC §6), on a thread of its
    /// own; a round that reached every shared volume within its period renews the storage side of the lease.
    func storageLoop() async {
        let queue = storage.queue
        while !Task.isCancelled {
            let issued = Self.monotonicNow()
            let (condition, period) = lease.withLock { ($0.condition(at: issued), $0.leaseTTL / 5) }
            let storage = self.storage
            let round = await withCheckedContinuation { continuation in
                queue.async { continuation.resume(returning: storage.round(condition: condition, at: issued)) }
            }
            lease.withLock { lease in
                guard let round else { return lease.storageNotShared() }
                // Only writes that ended within their period count (reading the peers' slots afterwards does not).
                if round.written, round.at.since(issued) <= period { lease.storageWritten(issuedAt: issued) }
            }
            let finished = Self.monotonicNow()
            try? await Task.sleep(for: max(.milliseconds(100), period - finished.since(issued)))
        }
    }
}
