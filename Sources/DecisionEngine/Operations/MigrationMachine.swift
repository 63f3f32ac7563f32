import ChainModel

/// SPEC §6's migration journal as a pure state machine: every migration, drain, failover and recovery of the
/// coordinator (and of the simulator) runs through this one machine.
///
/// `planned → preflight → source-released → target-adopted → committed`, or `aborted` with a reason. It reads no clock
/// and sends nothing: the shell hands it each step's answer (or its absence) with the time, and carries out the
/// actions it returns, in order: journal a state, send a command and report its answer, commit, abort, finish.
///
/// The rules it keeps:
/// - each state is journaled before the step it names is acted on;
/// - before `source-released` any failure aborts, and the source still owns the VM;
/// - a failover (`MigrationRecord.Kind.releasesSource` false) has no release step: its source is fenced;
/// - after `source-released`, an adopt that gets no answer or `not-admitted` ("not yet", not "cannot": a target
///   waiting out its back-off, isolated, or fenced during a coordinator outage and not yet readmitted) is sent again
///   until the target is proven not to run the VM: declared down on positive evidence, or its storage heartbeat record
///   lists the VM stopped at this epoch (SPEC §6, "Unanswered targets"); then the source is asked to adopt the VM back
///   (a failover's source is fenced: the VM is held instead). An isolated target is waited for: giving up on it while
///   it runs the VM would run the VM twice;
/// - recovery after a coordinator restart: before `source-released` abort, at `target-adopted` commit, at
///   `source-released` adopt again.
///
/// Operations on the owner (`MigrationRecord.Kind.isOperation`: checkpoint create, delete, revert; repair) take the
/// same journal and epochs: `planned → preflight → applying → applied → committed`. The owner verifies, then applies;
/// an apply that gets no answer or "not yet" is sent again (the agent carries out an operation id once and answers
/// a repeat with its outcome), until the owner is declared down: then the operation aborts, and what the hypervisor
/// shows is what the next report (or the failover) finds. A refusal or failure of the apply aborts: the agent has put
/// back what it changed. Recovery: before `applying` abort, at `applying` apply again, at `applied` commit.
public struct MigrationMachine: Sendable, Hashable {
    public struct Settings: Sendable, Hashable {
        /// How long the shell waits for an agent's answer to one command.
        public var commandTimeout: Duration
        /// The agents' lease: how long an unanswered adopt back (to the source, which did not adopt it) is sent again.
        public var leaseTTL: Duration
        /// The pause before sending again after a `not-admitted` answer.
        public var retryPause: Duration

        public init(commandTimeout: Duration, leaseTTL: Duration, retryPause: Duration = .milliseconds(250)) {
            self.commandTimeout = commandTimeout
            self.leaseTTL = leaseTTL
            self.retryPause = retryPause
        }
    }

    /// A command to an agent.
    public enum Command: String, Sendable, Hashable {
        /// The target re-verifies the whole file set through its own mounts.
        case preflight
        /// The source stops treating the VM as its own.
        case release
        /// The target takes the VM.
        case adopt
        /// The source takes the VM again, after the target could not (an adopt, sent to the source).
        case adoptBack = "adopt-back"
        /// The owner carries out an operation (checkpoint, repair).
        case apply
    }

    /// What an agent answered.
    public struct Answer: Sendable, Hashable {
        public var ok: Bool
        /// The agent holds no lease and acts on nothing until it is readmitted: "not yet".
        public var notAdmitted: Bool
        public var message: String?
        /// The codes of the reasons it gave (a preflight's), for the abort's reason.
        public var reasonCodes: [String]

        public init(ok: Bool, notAdmitted: Bool = false, message: String? = nil, reasonCodes: [String] = []) {
            self.ok = ok
            self.notAdmitted = notAdmitted
            self.message = message
            self.reasonCodes = reasonCodes
        }
    }

    /// What the shell knows, along with a "not yet", about a target that has not adopted (SPEC §6).
    public enum TargetEvidence: Sendable, Hashable {
        /// Nothing proves it does not run the VM: it is waited for.
        case none
        /// Declared down on positive evidence, or fenced: it runs nothing.
        case declaredDown
        /// Its storage heartbeat record lists the VM stopped at this migration's epoch.
        case listsStopped
    }

    /// What the shell does next.
    public enum Action: Sendable, Hashable {
        /// Write the migration's next state to the journal, before acting on it.
        case journal(MigrationRecord.State, detail: String?)
        /// Send a command to `node` (after waiting `after`) and hand its answer to `answered`, or `nil` when none came
        /// within the command timeout. Always the last action of a batch.
        case send(Command, to: NodeName, after: Duration)
        /// Move owner and epoch to the target and mark the migration committed, in one write.
        case commit
        /// Mark the migration aborted. `reasonsOf`: the command whose answer's reasons are recorded with it.
        case abort(reason: String, reasonsOf: Command?, adoptedBack: Bool)
        /// The migration is over.
        case finish(Outcome)
    }

    /// How a migration ended.
    public enum Outcome: Sendable, Hashable {
        case committed
        /// Aborted before the source released the VM: nothing changed anywhere. `refusedBy` names the command whose
        /// agent refused (`preflight`, `release`); `nil` when no answer came or the coordinator restarted.
        case abortedBeforeRelease(reason: String, refusedBy: Command?)
        /// Aborted after the source released the VM: the target could not adopt it.
        case abortedAfterRelease(reason: String, adoptedBack: Bool)

        public var reason: String? {
            switch self {
            case .committed: nil
            case .abortedBeforeRelease(let reason, _), .abortedAfterRelease(let reason, _): reason
            }
        }
    }

    public let kind: MigrationRecord.Kind
    public let vmName: String
    public let source: NodeName
    public let target: NodeName
    public let settings: Settings
    /// The state as journaled.
    public private(set) var state: MigrationRecord.State
    /// What it waits for: the answer to this command, and since when the command has been sent (adopts are sent again
    /// until a lease has passed since the first).
    public private(set) var awaiting: Awaiting?
    private var recovering: Bool

    public struct Awaiting: Sendable, Hashable {
        public var command: Command
        public var since: MonotonicTime
    }

    /// A migration just journaled at `planned`.
    public init(planned record: MigrationRecord, settings: Settings) {
        self.init(record, settings: settings, recovering: false)
    }

    /// A migration a previous coordinator left in the journal, at whatever state it reached.
    public init(recovering record: MigrationRecord, settings: Settings) {
        self.init(record, settings: settings, recovering: true)
    }

    private init(_ record: MigrationRecord, settings: Settings, recovering: Bool) {
        kind = record.kind
        vmName = record.vmName
        source = record.source
        target = record.target
        state = record.state
        self.settings = settings
        self.recovering = recovering
    }

    /// Whether the machine has finished.
    public var isFinished: Bool { state.isFinal }

    /// The first actions.
    public mutating func start(at now: MonotonicTime) -> [Action] {
        guard recovering else {
            guard state == .planned else { return [] }
            return journal(.preflight, "asking \(target) to verify") + send(.preflight, to: target, at: now)
        }
        if kind.isOperation {
            switch state {
            case .planned, .preflight, .sourceReleased, .targetAdopted:
                return abort(
                    "the coordinator restarted before \(source) was asked to apply the \(kind.rawValue); nothing changed",
                    reasonsOf: nil,
                    before: true
                )
            case .applying: return send(.apply, to: source, at: now)
            case .applied: return commit()
            case .committed, .aborted: return []
            }
        }
        switch state {
        case .applying, .applied:
            // Only operations reach these states (the store's trigger): a move never does.
            return abort("a move cannot be at \(state.rawValue)", reasonsOf: nil, before: true)
        case .planned, .preflight:
            return abort(
                "the coordinator restarted before \(source) released the VM; nothing changed",
                reasonsOf: nil,
                before: true
            )
        case .targetAdopted:
            return commit()
        case .sourceReleased:
            return send(.adopt, to: target, at: now)
        case .committed, .aborted:
            return []
        }
    }

    /// The answer to the command sent last, or `nil` when none came within the command timeout; with a "not yet" from
    /// an adopt's target, what the shell knows about that target.
    public mutating func answered(
        _ answer: Answer?,
        at now: MonotonicTime,
        target evidence: TargetEvidence = .none
    ) -> [Action] {
        guard let (command, since) = awaiting.map({ ($0.command, $0.since) }) else { return [] }
        awaiting = nil
        switch command {
        case .preflight:
            guard let answer else {
                return abort(
                    "\(target)'s agent did not answer the preflight within \(DurationText.format(settings.commandTimeout))",
                    reasonsOf: nil,
                    before: true
                )
            }
            guard answer.ok else {
                let codes = Set(answer.reasonCodes).sorted().joined(separator: ", ")
                return abort("\(target)'s preflight refused: \(codes)", reasonsOf: .preflight, before: true)
            }
            if kind.isOperation {
                return journal(.applying, "asking \(source) to apply the \(kind.rawValue)")
                    + send(.apply, to: source, at: now)
            }
            guard kind.releasesSource else {
                return journal(.sourceReleased, "\(source) is fenced; a failover has no release step")
                    + send(.adopt, to: target, at: now)
            }
            return send(.release, to: source, at: now)
        case .release:
            guard let answer else {
                return abort(
                    "\(source)'s agent did not answer the release; it still owns \(vmName)",
                    reasonsOf: nil,
                    before: true
                )
            }
            guard answer.ok else {
                return abort(
                    "\(source) could not release \(vmName): \(answer.message ?? "no reason given")",
                    reasonsOf: .release,
                    before: true
                )
            }
            return journal(.sourceReleased, answer.message) + send(.adopt, to: target, at: now)
        case .adopt:
            if let answer, answer.ok { return journal(.targetAdopted, answer.message) + commit() }
            let notYet = answer.map(\.notAdmitted) ?? true
            if notYet, evidence == .none {
                awaiting = Awaiting(command: .adopt, since: since)
                return [.send(.adopt, to: target, after: answer == nil ? .zero : settings.retryPause)]
            }
            guard kind.releasesSource else {
                // The source is fenced: nothing to adopt back; the failover manager holds the VM.
                return abort(
                    "\(target) could not adopt \(vmName) after \(source) was fenced",
                    reasonsOf: nil,
                    before: false
                )
            }
            return send(.adoptBack, to: source, at: now)
        case .apply:
            if let answer, answer.ok { return journal(.applied, answer.message) + commit() }
            if let answer, !answer.notAdmitted {
                return abort(
                    "\(source) could not apply the \(kind.rawValue): \(answer.message ?? "no reason given")",
                    reasonsOf: .apply,
                    before: true
                )
            }
            // Only a declared-down owner ends the wait: a record listing the VM stopped says nothing about an
            // operation (a merge goes on while a shut-off VM stays shut off).
            if evidence != .declaredDown {
                awaiting = Awaiting(command: .apply, since: since)
                return [.send(.apply, to: source, after: answer == nil ? .zero : settings.retryPause)]
            }
            return abort(
                "\(source) went down before it answered the \(kind.rawValue); its next report (or the failover) shows "
                    + "what the hypervisor holds",
                reasonsOf: nil,
                before: false
            )
        case .adoptBack:
            if let answer, answer.ok {
                return abort(
                    "\(target) could not adopt \(vmName); \(source) adopted it back",
                    reasonsOf: nil,
                    before: false,
                    adoptedBack: true
                )
            }
            if let again = sendAgain(.adoptBack, to: source, answer: answer, since: since, at: now) { return again }
            return abort(
                "\(target) could not adopt \(vmName) and \(source) did not adopt it back: \(source) still owns it in "
                    + "the cluster database; check its hooks",
                reasonsOf: nil,
                before: false
            )
        }
    }

    // MARK: - Steps

    private mutating func journal(_ next: MigrationRecord.State, _ detail: String?) -> [Action] {
        state = next
        return [.journal(next, detail: detail)]
    }

    private mutating func send(_ command: Command, to node: NodeName, at now: MonotonicTime) -> [Action] {
        let after = Duration.zero
        awaiting = Awaiting(command: command, since: now)
        return [.send(command, to: node, after: after)]
    }

    /// "Not yet" (no answer, or `not-admitted`) within a lease of the first try: the same command again, after a
    /// pause when the agent did answer.
    private mutating func sendAgain(
        _ command: Command,
        to node: NodeName,
        answer: Answer?,
        since: MonotonicTime,
        at now: MonotonicTime
    ) -> [Action]? {
        guard answer.map(\.notAdmitted) ?? true, now.since(since) < settings.leaseTTL else { return nil }
        awaiting = Awaiting(command: command, since: since)
        return [.send(command, to: node, after: answer == nil ? .zero : settings.retryPause)]
    }

    private mutating func commit() -> [Action] {
        state = .committed
        return [.commit, .finish(.committed)]
    }

    private mutating func abort(
        _ reason: String,
        reasonsOf command: Command?,
        before: Bool,
        adoptedBack: Bool = false
    ) -> [Action] {
        state = .aborted
        let outcome: Outcome =
            before
            ? .abortedBeforeRelease(reason: reason, refusedBy: command)
            : .abortedAfterRelease(reason: reason, adoptedBack: adoptedBack)
        return [.abort(reason: reason, reasonsOf: command, adoptedBack: adoptedBack), .finish(outcome)]
    }
}
