import ChainModel
import Synchronization

/// Whether reports may still rebuild ownership (SPEC §6, issue 20).
///
/// Only a coordinator that starts on a database that knows no VM (new, or lost) or on one restored from a `backup`
/// lets a reported epoch above the stored one make the reporter the owner, and only for its first lease: the agents
/// then hold the truth, since migrations committed after the backup (or before the loss) are only in their epochs.
/// Any other time a report never changes an owner: a node listing another's VM is `registered-on-non-owner`.
///
/// While the window is open, heartbeat answers ask each agent that has not reported since the start to report now.
final class OwnershipRebuild: Sendable {
    /// Why the window is open ("the database was restored from a backup taken …"), or `nil` when it never was.
    let reason: String?
    private let deadline: ContinuousClock.Instant?
    private let state = Mutex<(closed: Bool, reported: Set<NodeName>)>((false, []))

    init(reason: String?, lease: Duration) {
        self.reason = reason
        deadline = reason == nil ? nil : .now + lease
    }

    /// Whether a report received now may rebuild ownership.
    var isOpen: Bool {
        guard let deadline else { return false }
        return state.withLock { !$0.closed } && ContinuousClock.now < deadline
    }

    /// Whether the window was open and has just run out (reported once, so the caller can record it).
    func closeIfOver() -> Bool {
        guard let deadline, ContinuousClock.now >= deadline else { return false }
        return state.withLock { state in
            guard !state.closed else { return false }
            state.closed = true
            return true
        }
    }

    func reported(_ node: NodeName) { _ = state.withLock { $0.reported.insert(node) } }

    /// Whether a heartbeat from `node` should ask for a report now.
    func wantsReport(from node: NodeName) -> Bool {
        isOpen && !state.withLock { $0.reported.contains(node) }
    }
}
