import ChainModel
import ClusterAuthority
import ClusterStore
import Synchronization

/// Whether this coordinator leads (holds a `LeaderTerm`), who does if it does not, and how fresh its copy of the
/// critical state is: what the HTTP layer needs to refuse writes on a standby and mark its reads.
final class Leadership: Sendable {
    struct State {
        var term: LeaderTerm?
        /// The last term this coordinator held: if it stepped down only because it could not reach the backend, and
        /// that term turns out to be still current, it leads again under it.
        var lastTerm: LeaderTerm?
        /// The leader another coordinator is, as last read (nil when none or unknown).
        var leader: LeaderInfo?
        /// The last renewal of this coordinator's term that succeeded.
        var renewedAt: ContinuousClock.Instant?
        /// The last time the critical state was copied from the backend (a standby's reads are this old).
        var syncedAt: ContinuousClock.Instant?
        /// The backend revision the copy is as of (nil before the first copy).
        var copiedRevision: Int64?
        /// Records the last copy could not apply yet (their VM or node not reported here yet), offered again.
        var pending: CriticalChanges?
        /// VMs the backend is known to hold (so a leader claims only new ones).
        var claimed: Set<VMID> = []
        /// Whether this term read its whole database for VMs to claim (after that, only VMs registered since).
        var scannedForClaims = false
        /// Reads of the whole database for VMs to claim since this coordinator started.
        var claimScans = 0
        /// Reads of just the VMs registered since the round before.
        var claimReads = 0
    }

    let me: LeaderInfo
    private let state = Mutex(State())

    init(me: LeaderInfo) { self.me = me }

    var term: LeaderTerm? { state.withLock { $0.term } }
    var isLeader: Bool { term != nil }
    var leader: LeaderInfo? { state.withLock { $0.term?.leader ?? $0.leader } }

    /// The current term, or the 503 `not-leader` refusal that names the leader.
    func requireTerm() throws(APIError) -> LeaderTerm {
        guard let term else { throw notLeader() }
        return term
    }

    func notLeader() -> APIError {
        APIError.notLeader(state.withLock { $0.leader }, me: me.url)
    }

    func elected(_ term: LeaderTerm) {
        state.withLock {
            $0.term = term
            $0.lastTerm = term
            $0.leader = term.leader
            $0.renewedAt = .now
        }
    }

    var lastTerm: LeaderTerm? { state.withLock { $0.lastTerm } }

    func renewed() { state.withLock { $0.renewedAt = .now } }

    /// Since the last successful renewal (nil when not leading).
    func sinceRenewal() -> Duration? {
        state.withLock { state in state.term == nil ? nil : state.renewedAt.map { ContinuousClock.now - $0 } }
    }

    /// Stops leading; returns whether it was leading.
    @discardableResult
    func stepDown() -> Bool {
        state.withLock {
            let was = $0.term != nil
            if was { $0.leader = nil }
            $0.term = nil
            return was
        }
    }

    func observed(leader: LeaderInfo?) { state.withLock { $0.leader = leader } }

    func synced() { state.withLock { $0.syncedAt = .now } }

    /// The revision to copy from, and the records still waiting to be applied.
    func copyPoint() -> (revision: Int64?, pending: CriticalChanges?) {
        state.withLock { ($0.copiedRevision, $0.pending) }
    }

    func copied(upTo revision: Int64, pending: CriticalChanges?) {
        state.withLock {
            $0.copiedRevision = revision
            $0.pending = pending
            $0.syncedAt = .now
        }
    }

    func unclaimed(_ vms: some Sequence<VMID>) -> [VMID] {
        state.withLock { state in vms.filter { !state.claimed.contains($0) } }
    }

    func markClaimed(_ vms: some Sequence<VMID>) { state.withLock { $0.claimed.formUnion(vms) } }

    /// Whether the next claim round must read the whole database: none did this term, or the last one failed.
    var claimScanDue: Bool { state.withLock { !$0.scannedForClaims } }

    /// A claim round read the whole database (`whole`) or just the VMs registered since the round before.
    func claimRead(whole: Bool) {
        state.withLock {
            if whole {
                $0.scannedForClaims = true
                $0.claimScans += 1
            } else {
                $0.claimReads += 1
            }
        }
    }

    /// Reads of the whole database for VMs to claim since this coordinator started.
    var claimScans: Int { state.withLock { $0.claimScans } }

    /// Reads of just the VMs registered since the round before.
    var claimReads: Int { state.withLock { $0.claimReads } }

    /// The next claim round reads the whole database (a new term, or a round that failed).
    func forgetClaimScan() { state.withLock { $0.scannedForClaims = false } }

    var knowsClaimedVMs: Bool { state.withLock { !$0.claimed.isEmpty } }

    /// How old a standby's copy of the critical state is, in milliseconds (nil before the first copy).
    func stalenessMilliseconds() -> Int64? {
        state.withLock { $0.syncedAt.map { (ContinuousClock.now - $0).wholeMilliseconds } }
    }
}

/// The journal entries this process is moving forward now, so recovery after a leadership change leaves them alone.
final class DrivenMigrations: Sendable {
    private let ids = Mutex<Set<String>>([])

    /// Adds `id`; false when it was already being driven.
    @discardableResult
    func insert(_ id: String) -> Bool { ids.withLock { $0.insert(id).inserted } }

    func remove(_ id: String) { _ = ids.withLock { $0.remove(id) } }
}
