/// A VM's checkpoints, validated as a forest: every parent exists, and no checkpoint is its own ancestor.
///
/// After a revert, new checkpoints branch, so a node may have several children, listed in the order they were taken.
public struct CheckpointTree: Hashable, Sendable {
    public private(set) var checkpoints: [CheckpointID: Checkpoint]
    public private(set) var children: [CheckpointID: [CheckpointID]]
    public private(set) var roots: [CheckpointID]

    /// Builds the tree, or throws `ModelError` naming the dangling parent, duplicate or cycle.
    public init(_ list: [Checkpoint]) throws(ModelError) {
        var byID: [CheckpointID: Checkpoint] = [:]
        for checkpoint in list {
            guard byID.updateValue(checkpoint, forKey: checkpoint.id) == nil else {
                throw ModelError(.duplicateCheckpoint, "checkpoint '\(checkpoint.id)' is listed twice")
            }
        }
        var children: [CheckpointID: [CheckpointID]] = [:]
        var roots: [CheckpointID] = []
        for checkpoint in list {
            if let parent = checkpoint.parent {
                guard byID[parent] != nil else {
                    throw ModelError(
                        .danglingParent,
                        "checkpoint '\(checkpoint.name)' (\(checkpoint.id)) names parent '\(parent)', which does not exist"
                    )
                }
                children[parent, default: []].append(checkpoint.id)
            } else {
                roots.append(checkpoint.id)
            }
        }
        // Every checkpoint must be reachable from a root; what is not sits on a cycle.
        var seen = Set<CheckpointID>()
        var stack = roots
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            stack.append(contentsOf: children[next] ?? [])
        }
        if seen.count != byID.count {
            let onCycle = byID.keys.filter { !seen.contains($0) }.sorted()
            throw ModelError(
                .checkpointCycle,
                "checkpoints \(onCycle.map(\.rawValue).joined(separator: ", ")) form a parent cycle"
            )
        }
        // Siblings in the order they were taken; undated ones last, by id, so the order is stable.
        func chronological(_ ids: [CheckpointID]) -> [CheckpointID] {
            ids.sorted { lhs, rhs in
                let l = byID[lhs]?.created?.millisecondsSinceEpoch ?? .max
                let r = byID[rhs]?.created?.millisecondsSinceEpoch ?? .max
                return l != r ? l < r : lhs < rhs
            }
        }
        self.checkpoints = byID
        self.children = children.mapValues(chronological)
        self.roots = chronological(roots)
    }

    public var count: Int { checkpoints.count }

    /// The path from a checkpoint up to its root, the checkpoint first.
    public func ancestry(of id: CheckpointID) -> [CheckpointID] {
        var path: [CheckpointID] = []
        var cursor: CheckpointID? = id
        while let current = cursor, let checkpoint = checkpoints[current] {
            path.append(current)
            cursor = checkpoint.parent
        }
        return path
    }

    /// All checkpoints in depth-first order from the roots, each with its depth (roots are 0).
    public func depthFirst() -> [(checkpoint: Checkpoint, depth: Int)] {
        var result: [(Checkpoint, Int)] = []
        var stack = roots.reversed().map { ($0, 0) }
        while let (id, depth) = stack.popLast() {
            guard let checkpoint = checkpoints[id] else { continue }
            result.append((checkpoint, depth))
            stack.append(contentsOf: (children[id] ?? []).reversed().map { ($0, depth + 1) })
        }
        return result
    }
}
