import ChainModel

/// Which nodes reach each volume, worked out once per audit so that telling a VM has no reachability risk costs a few
/// set lookups, not a pass over every node.
public struct AuditReach: Sendable {
    /// Nodes each volume is verified reachable from (the strand rule's reachability).
    public let reach: [VolumeID: Set<NodeName>]
    /// Member nodes each volume is *not* verified reachable from.
    private let missing: [VolumeID: Set<NodeName>]
    private let members: Set<NodeName>

    public init(_ view: ClusterView) {
        reach = ClusterAudit.reachability(view)
        members = Set(view.nodes.keys)
        var missing: [VolumeID: Set<NodeName>] = [:]
        for (volume, nodes) in reach { missing[volume] = members.subtracting(nodes) }
        self.missing = missing
    }

    /// Whether every node the VM could fail over to (its policy's possible owners, else every member, never its
    /// owner) reaches `volume`; a file under no volume is reached by no other node.
    func everyCandidateReaches(
        _ volume: VolumeID?,
        owner: NodeName,
        policy: PlacementPolicy,
        view: ClusterView
    ) -> Bool {
        if policy.possibleOwners.isEmpty {
            guard let volume else { return members.subtracting([owner]).isEmpty }
            guard let missing = missing[volume] else { return members.subtracting([owner]).isEmpty }
            return missing.isEmpty || missing == [owner]
        }
        let candidates = policy.possibleOwners.filter { $0 != owner && view.nodes[$0] != nil }
        guard let volume else { return candidates.isEmpty }
        let reached = reach[volume] ?? []
        return candidates.allSatisfy(reached.contains)
    }
}
