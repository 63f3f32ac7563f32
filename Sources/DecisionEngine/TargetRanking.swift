import ChainModel

/// A node considered as a new home for a VM, with its verdict.
public struct Candidate: Hashable, Sendable {
    public var node: NodeName
    public var verdict: Verdict
    /// Whether it came from the VM's preferred-owner list.
    public var preferred: Bool
    /// Whether it already runs a VM of the VM's (soft) anti-affinity class.
    public var softConflict: Bool
}

/// Orders the nodes a VM could move to: preferred owners in the order the policy gives, then every other possible owner
/// from least to most loaded.
///
/// Among the others, nodes that already run a VM of the same soft anti-affinity class come last (an enforced class
/// refuses them outright).
public enum TargetRanking {
    /// Every node except the owner, ranked; each carries its verdict, so a caller can take the first
    /// allowed one and report why the rest were refused.
    public static func rank(_ vm: VM, in view: ClusterView, mode: CheckMode = .migration) -> [Candidate] {
        order(vm, in: view).map { node, preferred, conflict in
            Candidate(
                node: node,
                verdict: StrandRule.check(vm, to: node, in: view, mode: mode),
                preferred: preferred,
                softConflict: conflict
            )
        }
    }

    /// The first allowed candidate, or `nil`; nodes are judged in rank order only until one passes, which is what
    /// keeps a failover plan of a full node fast.
    ///
    /// Nodes in `excluding` (for example targets whose own preflight already refused the VM) are skipped.
    public static func best(
        _ vm: VM,
        in view: ClusterView,
        mode: CheckMode = .migration,
        excluding: Set<NodeName> = []
    ) -> Candidate? {
        for (node, preferred, conflict) in order(vm, in: view) where !excluding.contains(node) {
            let verdict = StrandRule.check(vm, to: node, in: view, mode: mode)
            if verdict.allowed {
                return Candidate(node: node, verdict: verdict, preferred: preferred, softConflict: conflict)
            }
        }
        return nil
    }

    /// The ranking without verdicts: preferred owners in order, then the others by soft conflict, memory fraction,
    /// VM count and name.
    static func order(_ vm: VM, in view: ClusterView) -> [(node: NodeName, preferred: Bool, conflict: Bool)] {
        let policy = view.policy(for: vm.id)
        let className = policy.antiAffinityClass
        func conflict(_ node: NodeName) -> Bool {
            let others = className.flatMap { view.load[node]?.runningByClass[$0] }?.filter { $0 != vm.id } ?? []
            return !others.isEmpty
        }
        var ranked: [(node: NodeName, preferred: Bool, conflict: Bool)] = []
        var taken: Set<NodeName> = [vm.owner]
        for node in policy.preferredOwners where view.nodes[node] != nil && taken.insert(node).inserted {
            ranked.append((node, true, conflict(node)))
        }
        let rest = view.nodes.keys.filter { !taken.contains($0) }.map { node in
            (node: node, key: loadKey(node, conflict: conflict(node), view: view))
        }
        ranked += rest.sorted { lhs, rhs in
            let l = lhs.key
            let r = rhs.key
            if l.conflict != r.conflict { return !l.conflict }
            if l.fraction != r.fraction { return l.fraction < r.fraction }
            if l.count != r.count { return l.count < r.count }
            return lhs.node < rhs.node
        }.map { ($0.node, false, $0.key.conflict) }
        return ranked
    }

    private static func loadKey(
        _ node: NodeName,
        conflict: Bool,
        view: ClusterView
    ) -> (conflict: Bool, fraction: Double, count: Int) {
        let load = view.load[node] ?? NodeLoad()
        let offered = view.nodes[node]?.memoryMiB ?? 0
        let fraction = offered > 0 ? Double(load.memoryUsedMiB) / Double(offered) : 0
        return (conflict, fraction, load.vmCount)
    }
}
