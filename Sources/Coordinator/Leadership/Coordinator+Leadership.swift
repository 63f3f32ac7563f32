import ChainModel
import ClusterAuthority
import ClusterStore
import Foundation
import Logging
import ServiceLifecycle

extension Coordinator {
    /// Whether the critical state lives in this coordinator's own database (the default) rather than in etcd.
    public var embeddedStore: Bool { authority.isEmbedded }

    /// The critical writes, through the coordination store with this coordinator's term.
    var critical: CriticalWrites { CriticalWrites(authority: authority, store: store, leadership: leadership) }

    /// One round of leadership: a leader renews its term (and steps down when it cannot prove it within half the
    /// lease); a standby copies the critical state and campaigns when nobody leads.
    func leadershipRound(logger: Logger) async {
        let ttl = config.leadershipLease
        if let term = leadership.term {
            do {
                try await authority.renew(term, ttl: ttl, at: now())
                leadership.renewed()
                if !authority.isEmbedded { try await claimNewVMs(term: term) }
            } catch let error where error.code == .notLeader {
                if leadership.stepDown() { logger.error("leadership lost: \(error.message); now a standby") }
            } catch {
                // Unreachable backend: keep trying while the lease may still hold, then stop acting.
                if let since = leadership.sinceRenewal(), since > ttl / 2, leadership.stepDown() {
                    logger.error(
                        "leadership not renewed for \(DurationText.format(since)) (\(error.message)); now a standby"
                    )
                }
            }
            return
        }
        do {
            let current = try await authority.leader(at: now())
            leadership.observed(leader: current?.leader)
            if let current, current == leadership.lastTerm {
                // Stepped down while etcd was unreachable, and the term outlived that: prove it, and lead again.
                try await authority.renew(current, ttl: ttl, at: now())
                try await copyCriticalState()
                await failover.restartStartupWait()
                leadership.elected(current)
                logger.notice("leadership proven again (term \(current.token)); leading")
                let coordinator = self
                Task { await coordinator.recoverMigrations(logger: logger) }
            } else if current == nil, let term = try await authority.campaign(as: leadership.me, ttl: ttl, at: now()) {
                try await becomeLeader(term, logger: logger)
            }
        } catch {
            logger.warning("standby: cannot read or take leadership: \(error.message)")
        }
    }

    /// Takes over: copies the critical state, claims what etcd does not know yet, waits one full agent lease before
    /// failing any node over (SPEC §6), and finishes the journal's unfinished migrations.
    func becomeLeader(_ term: LeaderTerm, logger: Logger) async throws(StoreError) {
        do {
            // A standby that has copied VM records knows etcd is not empty, and skips reading every owner.
            if !authority.isEmbedded, !leadership.knowsClaimedVMs, try await authority.owners().isEmpty {
                // A fresh prefix: the cluster moves from its embedded database, epochs and journal unchanged.
                let local = try CriticalState(of: store)
                if !local.claims.isEmpty {
                    let written = try await authority.seed(local, term: term)
                    let summary =
                        "\(written) records (\(local.claims.count) VMs, \(local.journal.count) journal entries, "
                        + "\(local.policies.count) policies)"
                    logger.notice("etcd seeded from this coordinator's database: \(summary)")
                }
            }
            try await copyCriticalState()
            leadership.forgetClaimScan()
            if !authority.isEmbedded { try await claimNewVMs(term: term) }
        } catch {
            try? await authority.resign(term)
            throw error
        }
        await failover.restartStartupWait()
        leadership.elected(term)
        let lease = DurationText.format(config.leaseTTL)
        logger.notice(
            "this coordinator leads now (term \(term.token)); no node is declared down for one lease (\(lease))"
        )
        let coordinator = self
        Task { await coordinator.recoverMigrations(logger: logger) }
    }

    /// Copies into this coordinator's database what changed in etcd since the last copy (everything the first time),
    /// together with the records an earlier copy could not apply yet.
    func copyCriticalState() async throws(StoreError) {
        guard !authority.isEmbedded else { return }
        let (since, waiting) = leadership.copyPoint()
        var changes = try await authority.changes(since: since)
        if let waiting {
            // Newer records win over the ones still waiting.
            changes.owners.merge(waiting.owners) { new, _ in new }
            let fresh = Set(changes.journal.map(\.id))
            changes.journal += waiting.journal.filter { !fresh.contains($0.id) }
            changes.nodeStates.merge(waiting.nodeStates) { new, _ in new }
            changes.policies.merge(waiting.policies) { new, _ in new }
            changes.classes.merge(waiting.classes) { new, _ in new }
        }
        var pending: CriticalChanges?
        if !changes.isEmpty {
            let applied = try store.applyAuthority(
                owners: changes.owners,
                migrations: changes.journal,
                nodeStates: changes.nodeStates,
                policies: changes.policies,
                classes: changes.classes
            )
            if !applied.unknownVMs.isEmpty || !applied.unknownNodes.isEmpty {
                let vms = applied.unknownVMs
                let nodes = applied.unknownNodes
                pending = CriticalChanges(
                    owners: changes.owners.filter { vms.contains($0.key) || nodes.contains($0.value.owner) },
                    journal: changes.journal.filter { vms.contains($0.vm) },
                    nodeStates: changes.nodeStates.filter { nodes.contains($0.key) },
                    policies: changes.policies.filter { vms.contains($0.key) },
                    revision: changes.revision
                )
            }
        }
        leadership.markClaimed(changes.owners.keys)
        leadership.copied(upTo: changes.revision, pending: pending)
    }

    /// Claims in etcd every VM this coordinator's reports know and etcd does not, with its epochs.
    ///
    /// A new VM, or a cluster moving from the embedded backend. Batched transactions, so a node's first report of a
    /// thousand VMs does not delay the next renewal. The whole database is read once a term; after that a round reads
    /// only the VMs registered since the round before (`RegistrationLog`), so a round with nothing new reads nothing and
    /// a node's first report is not read again in full after each of its steps. Which VMs etcd holds is remembered
    /// from the copies. A VM etcd still lacks when it is first migrated is claimed then (`CriticalWrites`).
    func claimNewVMs(term: LeaderTerm) async throws(StoreError) {
        // Taken first: a VM registered during the reads below is in the next round's list.
        let registered = store.registrations.take()
        let whole = leadership.claimScanDue || !registered.complete
        guard whole || !registered.rowIDs.isEmpty else { return }
        do {
            let local = whole ? try store.allClaimable() : try store.claimable(rowIDs: registered.rowIDs)
            let candidates = leadership.unclaimed(local.keys)
            if !candidates.isEmpty {
                var claims: [VMID: CriticalState.Claim] = [:]
                for vm in candidates {
                    guard let known = local[vm] else { continue }
                    claims[vm] = CriticalState.Claim(
                        name: known.name,
                        ownership: known.ownership,
                        reserved: known.reserved
                    )
                }
                _ = try await authority.seed(
                    CriticalState(claims: claims, journal: [], nodeStates: [:], policies: [:]),
                    term: term
                )
                leadership.markClaimed(candidates)
            }
            leadership.claimRead(whole: whole)
        } catch {
            // What was taken is not lost: the next round reads the whole database.
            leadership.forgetClaimScan()
            throw error
        }
    }

    /// Leadership rounds for the coordinator's lifetime: every quarter lease for a leader, every 50 ms for a
    /// standby, with the critical state copied every second.
    ///
    /// etcd revokes an expired lease at its next periodic check rather than at the instant (up to about half a second
    /// later here), so a standby leads within a lease and about 0.6 s of the leader's last renewal.
    public func leadershipLoop(logger: Logger) -> some Service { LeadershipLoop(coordinator: self, logger: logger) }
}

struct LeadershipLoop: Service {
    let coordinator: Coordinator
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var lastCopy = ContinuousClock.now - .seconds(60)
            while !Task.isCancelled {
                await coordinator.leadershipRound(logger: logger)
                if !coordinator.leadership.isLeader, ContinuousClock.now - lastCopy >= .seconds(1) {
                    do {
                        try await coordinator.copyCriticalState()
                    } catch {
                        logger.warning("standby: the critical state could not be copied: \(error)")
                    }
                    lastCopy = .now
                }
                let pause =
                    coordinator.leadership.isLeader ? coordinator.config.leadershipLease / 4 : .milliseconds(50)
                try? await Task.sleep(for: pause)
            }
        }
        if let term = coordinator.leadership.term {
            // A graceful stop hands leadership over at once instead of after a lease.
            coordinator.leadership.stepDown()
            try? await coordinator.authority.resign(term)
        }
    }
}
