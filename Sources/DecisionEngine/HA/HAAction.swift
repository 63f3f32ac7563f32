import ChainModel

/// What the failover manager asks its shell to do; the shell persists or performs it and reports back.
public enum HAAction: Hashable, Sendable, CustomStringConvertible {
    /// Persist a node's new state.
    case setState(NodeName, NodeState, because: String)
    /// Run the coordinator's `fence` command for the node, then call `HAManager.fenceFinished`.
    case runFence(NodeName)
    /// Move the VM with the migration machinery minus the release step, then call `HAManager.failoverFinished`.
    case failover(FailoverPlan.Move)
    /// Record the VM as `failover-blocked` with its reasons (it stays on its fenced node until `vm clear`).
    case block(FailoverPlan.Blocked)

    public var description: String {
        switch self {
        case .setState(let node, let state, let because): "node \(node) \(state.rawValue): \(because)"
        case .runFence(let node): "node \(node): running the fence command"
        case .failover(let move): "failover \(move.vmName): \(move.from) -> \(move.target)"
        case .block(let blocked):
            "failover-blocked \(blocked.vmName) on \(blocked.from): " + Self.summary(of: blocked.reasons)
        }
    }

    /// Reasons as codes with the file or volume they concern, for one log line.
    public static func summary(of reasons: [Reason]) -> String {
        reasons.map { reason in
            let place = reason.path ?? reason.volume
            return place.map { "\(reason.code.rawValue) (\($0))" } ?? reason.code.rawValue
        }.joined(separator: ", ")
    }
}

/// How a failover the manager asked for ended.
public enum FailoverOutcome: Hashable, Sendable {
    /// The target owns the VM.
    case committed
    /// The target's own preflight refused (or it did not answer); nothing changed, another target is tried.
    case refused([Reason])
    /// It could not finish after the old node was fenced (the adopt failed): the VM is held.
    case failed(Reason)
}

/// The answer to a heartbeat: whether the node holds a lease, and why not.
public struct Admission: Hashable, Sendable {
    public var admitted: Bool
    /// The node's state after the heartbeat.
    public var state: NodeState
    public var message: String

    public init(admitted: Bool, state: NodeState, message: String) {
        self.admitted = admitted
        self.state = state
        self.message = message
    }
}

/// Why an administrator's node command was refused.
public struct HARefusal: Error, Hashable, Sendable {
    public var code: String
    public var message: String

    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }
}
