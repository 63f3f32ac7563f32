import ChainModel

/// What would happen to a node's VMs if it failed now (SPEC §6): which move where, and which are held with why.
public struct FailoverPlan: Hashable, Sendable {
    public struct Move: Hashable, Sendable {
        public var vm: VMID
        public var vmName: String
        public var from: NodeName
        public var target: NodeName
    }

    public struct Blocked: Hashable, Sendable {
        public var vm: VMID
        public var vmName: String
        public var from: NodeName
        /// Why no node passed, each distinct reason once (not once per candidate node).
        public var reasons: [Reason]
    }

    /// The failing node (the first, when several fail together).
    public var node: NodeName
    public var moves: [Move]
    public var blocked: [Blocked]
}

/// What the failover engine remembers between decisions: counted failovers, held VMs and refused targets.
public struct FailoverMemory: Hashable, Sendable {
    /// When each VM was failed over automatically since its last `vm clear` (wall time, from the history).
    public var failovers: [VMID: [Timestamp]]
    /// VMs held as `failover-blocked`, with the reason recorded then.
    public var blocked: [VMID: String]
    /// Targets whose own preflight refused a VM during the current failover, with their reasons.
    public var refused: [VMID: [NodeName: [Reason]]]

    public init(
        failovers: [VMID: [Timestamp]] = [:],
        blocked: [VMID: String] = [:],
        refused: [VMID: [NodeName: [Reason]]] = [:]
    ) {
        self.failovers = failovers
        self.blocked = blocked
        self.refused = refused
    }
}

/// Plans a failover with the same engine the failover manager uses: every highly available VM with a priority other
/// than `none`, highest priority first, goes to the first target `TargetRanking` allows in failover mode, and each
/// move counts against its target's load before the next VM is placed.
///
/// A VM is held instead when it already is `failover-blocked`, when it reached its failover threshold, or when no
/// target passes.
///
/// A drain plans with the same code: every highly available VM (priority `none` too: a drain is asked for by an
/// administrator), judged as a migration (the owner is alive), with no threshold.
public enum FailoverPlanner {
    public enum Purpose: Hashable, Sendable {
        case failover
        case drain
    }

    public static func plan(
        failing node: NodeName,
        vms: [VM],
        in view: ClusterView,
        memory: FailoverMemory = FailoverMemory(),
        purpose: Purpose = .failover
    ) -> FailoverPlan {
        plan(failing: [node], vms: vms, in: view, memory: memory, purpose: purpose)
    }

    /// The plan for several nodes failing together: their VMs are placed in one priority order.
    public static func plan(
        failing nodes: [NodeName],
        vms: [VM],
        in view: ClusterView,
        memory: FailoverMemory = FailoverMemory(),
        purpose: Purpose = .failover
    ) -> FailoverPlan {
        var view = view
        let failing = Set(nodes)
        let mode: CheckMode = purpose == .drain ? .migration : .failover
        let candidates = vms.filter { vm in
            failing.contains(vm.owner) && view.isHighlyAvailable(vm)
                && (purpose == .drain || view.policy(for: vm.id).priority != .none)
        }.sorted { lhs, rhs in
            let l = view.policy(for: lhs.id).priority
            let r = view.policy(for: rhs.id).priority
            return l != r ? l < r : (lhs.name, lhs.id.rawValue) < (rhs.name, rhs.id.rawValue)
        }
        var plan = FailoverPlan(node: nodes.first ?? NodeName(""), moves: [], blocked: [])
        var order = TargetRanking.LoadOrder(view)
        for vm in candidates {
            if purpose == .failover, let earlier = memory.blocked[vm.id] {
                let reason = Reason(
                    code: .failoverBlocked,
                    message: "\(vm.name) is already failover-blocked (\(earlier)); fix the cause, then run "
                        + "`chainkeeper vm clear \(vm.name)`"
                )
                plan.blocked.append(.init(vm: vm.id, vmName: vm.name, from: vm.owner, reasons: [reason]))
                continue
            }
            let policy = view.policy(for: vm.id)
            let recent = (memory.failovers[vm.id] ?? []).filter { view.now.since($0) < policy.threshold.period }
            if purpose == .failover, recent.count >= policy.threshold.maxFailovers {
                let reason = Reason(
                    code: .failoverThreshold,
                    message: "\(vm.name) failed over \(recent.count) times within "
                        + "\(DurationText.format(policy.threshold.period)), its threshold; fix the cause, then run "
                        + "`chainkeeper vm clear \(vm.name)`"
                )
                plan.blocked.append(.init(vm: vm.id, vmName: vm.name, from: vm.owner, reasons: [reason]))
                continue
            }
            let refused = memory.refused[vm.id] ?? [:]
            if let target = TargetRanking.best(vm, in: view, mode: mode, excluding: Set(refused.keys), order: order) {
                plan.moves.append(.init(vm: vm.id, vmName: vm.name, from: vm.owner, target: target.node))
                let placedOn = view.placements[vm.id]?.owner
                view.place(vm.id, on: target.node)
                order.update([vm.owner, target.node] + (placedOn.map { [$0] } ?? []), in: view)
                continue
            }
            plan.blocked.append(
                .init(
                    vm: vm.id,
                    vmName: vm.name,
                    from: vm.owner,
                    reasons: reasons(vm, in: view, mode: mode, refused: refused)
                )
            )
        }
        return plan
    }

    /// Why no node takes the VM: every candidate's verdict (a refused target's own preflight reasons instead of
    /// ours), each distinct reason once.
    static func reasons(_ vm: VM, in view: ClusterView, mode: CheckMode, refused: [NodeName: [Reason]]) -> [Reason] {
        let ranked = TargetRanking.rank(vm, in: view, mode: mode)
        var all: [Reason] = []
        for candidate in ranked {
            all += refused[candidate.node] ?? candidate.verdict.reasons
        }
        var seen = Set<String>()
        var reasons: [Reason] = []
        for reason in all.enumerated().sorted(by: { ($0.element.code, $0.offset) < ($1.element.code, $1.offset) })
        where seen.insert("\(reason.element.code.rawValue)|\(reason.element.path ?? "")|\(reason.element.volume ?? "")")
            .inserted
        {
            reasons.append(reason.element)
        }
        if ranked.isEmpty {
            reasons.append(Reason(code: .targetNotEligible, message: "the cluster has no other node"))
        }
        return reasons
    }
}
