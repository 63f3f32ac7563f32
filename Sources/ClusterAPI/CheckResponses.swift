import ChainModel
import DecisionEngine

/// One refusal reason (SPEC §5): `{code, message, path?, volume?, snapshot?}` plus ids for scripts.
public struct ReasonJSON: Codable, Sendable, Hashable {
    public var code: String
    public var message: String
    public var path: String?
    public var volume: String?
    public var volumeId: String?
    public var snapshot: String?
    public var snapshotId: String?

    public init(_ reason: Reason) {
        code = reason.code.rawValue
        message = reason.message
        path = reason.path
        volume = reason.volume
        volumeId = reason.volumeID?.rawValue
        snapshot = reason.snapshot
        snapshotId = reason.snapshotID?.rawValue
    }

    public init(code: String, message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }
}

/// `check --json` (SPEC §7): `vm` (name), `vmId`, `target`, `allowed`, `reasons`; `migrate` adds `migrationId`,
/// `state` and `epoch`.
public struct CheckResponse: Codable, Sendable, Hashable {
    public var vm: String
    public var vmId: String
    public var target: String
    public var allowed: Bool
    public var reasons: [ReasonJSON]
    public var migrationId: String?
    public var state: String?
    public var epoch: Int64?

    public init(_ verdict: Verdict) {
        vm = verdict.vmName
        vmId = verdict.vm.rawValue
        target = verdict.target.rawValue
        allowed = verdict.allowed
        reasons = verdict.reasons.map(ReasonJSON.init)
    }

    public init(
        vm: String,
        vmId: String,
        target: String,
        allowed: Bool,
        reasons: [ReasonJSON],
        migrationId: String? = nil,
        state: String? = nil,
        epoch: Int64? = nil
    ) {
        self.vm = vm
        self.vmId = vmId
        self.target = target
        self.allowed = allowed
        self.reasons = reasons
        self.migrationId = migrationId
        self.state = state
        self.epoch = epoch
    }
}

/// `whatif --json` (SPEC §7): `node`, `moves` (`{vm, target}`), `blocked` (`{vm, reasons}`).
public struct WhatIfResponse: Codable, Sendable, Hashable {
    public struct Move: Codable, Sendable, Hashable {
        public var vm: String
        public var vmId: String
        public var target: String
    }

    public struct Blocked: Codable, Sendable, Hashable {
        public var vm: String
        public var vmId: String
        public var reasons: [ReasonJSON]
        /// A stranded VM `repair` could fix now, while its owner runs: the volume it would use (issue 25).
        public var repairTo: String?
    }

    public var node: String
    public var moves: [Move]
    public var blocked: [Blocked]

    /// `repairTo`: the volume (by name) a repair would use, for each held VM one could fix.
    public init(_ plan: FailoverPlan, repairTo: [VMID: String] = [:]) {
        node = plan.node.rawValue
        moves = plan.moves.map { Move(vm: $0.vmName, vmId: $0.vm.rawValue, target: $0.target.rawValue) }
        blocked = plan.blocked.map {
            Blocked(
                vm: $0.vmName,
                vmId: $0.vm.rawValue,
                reasons: $0.reasons.map(ReasonJSON.init),
                repairTo: repairTo[$0.vm]
            )
        }
    }
}
