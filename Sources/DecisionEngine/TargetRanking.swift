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
        let policy = view.policy(for: vm.id)
        let className = policy.antiAffinityClass
        func candidate(_ node: NodeName, preferred: Bool) -> Candidate {
            let others = className.flatMap { view.load[node]?.runningByClass[$0] }?.filter { $0 != vm.id } ?? []
            return Candidate(
                node: node,
                verdict: StrandRule.check(vm, to: node, in: view, mode: mode),
                preferred: preferred,
                softConflict: !others.isEmpty
            )
        }

        var ranked: [Candidate] = []
        var taken: Set<NodeName> = [vm.owner]
        for node in policy.preferredOwners where view.nodes[node] != nil && taken.insert(node).inserted {
            ranked.append(candidate(node, preferred: true))
        }
        let rest = view.nodes.keys.filter { !taken.contains($0) }.map { candidate($0, preferred: false) }
        ranked += rest.sorted { lhs, rhs in
            let l = loadKey(lhs, view: view)
            let r = loadKey(rhs, view: view)
            if l.conflict != r.conflict { return !l.conflict }
            if l.fraction != r.fraction { return l.fraction < r.fraction }
            if l.count != r.count { return l.count < r.count }
            return lhs.node < rhs.node
        }
        return ranked
    }

    /// The first allowed candidate, or `nil` with every candidate's verdict in `rank`.
    public static func best(_ vm: VM, in view: ClusterView, mode: CheckMode = .migration) -> Candidate? {
        rank(vm, in: view, mode: mode).first { $0.verdict.allowed }
    }

    private static func loadKey(
        _ candidate: Candidate,
        view: ClusterView
    ) -> (conflict: Bool, fraction: Double, count: Int) {
        let load = view.load[candidate.node] ?? NodeLoad()
        let offered = view.nodes[candidate.node]?.memoryMiB ?? 0
        let fraction = offered > 0 ? Double(load.memoryUsedMiB) / Double(offered) : 0
        return (candidate.softConflict, fraction, load.vmCount)
    }
}
