import ChainModel

/// What would happen to a node's VMs if it failed now (SPEC §6): which move where, and which are held with why.
public struct FailoverPlan: Hashable, Sendable {
    public struct Move: Hashable, Sendable {
        public var vm: VMID
        public var vmName: String
        public var target: NodeName
    }

    public struct Blocked: Hashable, Sendable {
        public var vm: VMID
        public var vmName: String
        /// Why no node passed, each distinct reason once (not once per candidate node).
        public var reasons: [Reason]
    }

    public var node: NodeName
    public var moves: [Move]
    public var blocked: [Blocked]
}

/// Plans the failover of a node with the same engine the failover manager uses: every highly available VM with a
/// priority other than `none`, highest priority first, goes to the first target `TargetRanking` allows in failover
/// mode, and each move counts against its target's load before the next VM is placed.
public enum FailoverPlanner {
    public static func plan(failing node: NodeName, vms: [VM], in view: ClusterView) -> FailoverPlan {
        var view = view
        let candidates = vms.filter { vm in
            vm.owner == node && view.isHighlyAvailable(vm) && view.policy(for: vm.id).priority != .none
        }.sorted { lhs, rhs in
            let l = view.policy(for: lhs.id).priority
            let r = view.policy(for: rhs.id).priority
            return l != r ? l < r : (lhs.name, lhs.id.rawValue) < (rhs.name, rhs.id.rawValue)
        }
        var plan = FailoverPlan(node: node, moves: [], blocked: [])
        for vm in candidates {
            if let target = TargetRanking.best(vm, in: view, mode: .failover) {
                plan.moves.append(.init(vm: vm.id, vmName: vm.name, target: target.node))
                view.place(vm.id, on: target.node)
                continue
            }
            // Held: every candidate's verdict, for the reasons.
            let ranked = TargetRanking.rank(vm, in: view, mode: .failover)
            var seen = Set<String>()
            var reasons: [Reason] = []
            for reason in ranked.flatMap(\.verdict.reasons).sorted(by: { $0.code < $1.code })
            where seen.insert("\(reason.code.rawValue)|\(reason.path ?? "")|\(reason.volume ?? "")").inserted {
                reasons.append(reason)
            }
            if ranked.isEmpty {
                reasons.append(Reason(code: .targetNotEligible, message: "the cluster has no other node"))
            }
            plan.blocked.append(.init(vm: vm.id, vmName: vm.name, reasons: reasons))
        }
        return plan
    }
}
