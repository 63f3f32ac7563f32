import ChainModel
import ClusterAPI

/// `/ui/vms/VM`: the checkpoint tree, each chain leaf to base, and every file with its volume, coloured by which
/// nodes reach it.
struct VMPage {
    struct Facts {
        let owner: String
        let state: String
        let epoch: Int64
        let ha: String
        let id: String
    }

    struct RiskRow {
        let code: String
        let message: String
        let path: String?
        let severity: String
    }

    struct SnapshotNode {
        let name: String
        let created: String?
        let children: [SnapshotNode]
        let hasChildren: Bool
        /// The confirmation pages of `checkpoint delete` and `checkpoint revert`.
        let deleteHref: String
        let revertHref: String
    }

    struct NodeReach {
        let name: String
        let reaches: Bool
    }

    struct FileRow {
        let path: String
        let kind: String
        let volume: String
        let format: String
        let size: String
        let problem: String?
        let tone: String
        let nodes: [NodeReach]
    }

    struct Link {
        let file: String
        let path: String
        let tone: String
        let reach: String
    }

    struct ChainRow {
        let label: String
        let links: [Link]
    }

    let frame: Frame
    let vm: Facts
    let risks: [RiskRow]
    let hasRisks: Bool
    let snapshots: [SnapshotNode]
    let hasSnapshots: Bool
    let chains: [ChainRow]
    let files: [FileRow]
    let targets: [String]
    let migrateHref: String
    let historyHref: String
    /// The confirmation page of `checkpoint create`.
    let checkpointHref: String
    /// The confirmation page of `repair`, when a risk names the volume a repair would use (issue 25).
    let repairHref: String?
    let repairVolume: String?

    /// How widely a file is reachable: from every node, from some beyond the owner, from the owner only, or none.
    static func tone(_ file: VMDetailJSON.File, reach: [String], owner: String, nodes: [String]) -> String {
        if file.problem == "file-missing" || reach.isEmpty { return "reach-none" }
        let others = nodes.filter { $0 != owner }
        let reached = others.filter(reach.contains)
        if reached.isEmpty { return "reach-owner" }
        return reached.count == others.count ? "reach-all" : "reach-some"
    }

    /// The last component of a path, Windows or POSIX.
    static func fileName(_ path: String) -> String {
        String(path.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last ?? Substring(path))
    }

    init(frame: Frame, detail: VMDetailJSON, nodes: [String]) {
        self.frame = frame
        vm = Facts(
            owner: detail.owner,
            state: detail.state,
            epoch: detail.epoch,
            ha: detail.highlyAvailable ? "yes" : "no",
            id: detail.id
        )
        risks = detail.risks.map { RiskRow(code: $0.code, message: $0.message, path: $0.path, severity: $0.severity) }
        hasRisks = !risks.isEmpty
        func node(_ snapshot: VMDetailJSON.Snapshot) -> SnapshotNode {
            let children = snapshot.children.map(node)
            let action = "/ui/vms/\(HTMLText.segment(detail.id))/checkpoint"
            return SnapshotNode(
                name: snapshot.name,
                created: snapshot.created.map { Frame.time(Timestamp(millisecondsSinceEpoch: $0)) },
                children: children,
                hasChildren: !children.isEmpty,
                deleteHref: Pager.url(action, [("action", "delete"), ("checkpoint", snapshot.id)]),
                revertHref: Pager.url(action, [("action", "revert"), ("checkpoint", snapshot.id)])
            )
        }
        snapshots = detail.snapshots.map(node)
        hasSnapshots = !snapshots.isEmpty
        var names: [String: String] = [:]
        func collect(_ snapshot: VMDetailJSON.Snapshot) {
            names[snapshot.id] = snapshot.name
            snapshot.children.forEach(collect)
        }
        detail.snapshots.forEach(collect)
        let byPath = Dictionary(detail.files.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        chains = detail.chains.map { chain in
            ChainRow(
                label: chain.snapshotId.map { names[$0] ?? $0 } ?? "current state",
                links: chain.paths.map { path in
                    let file = byPath[path]
                    let reach = file.map(detail.reachableFrom) ?? []
                    return Link(
                        file: Self.fileName(path),
                        path: path,
                        tone: file.map { Self.tone($0, reach: reach, owner: detail.owner, nodes: nodes) }
                            ?? "reach-none",
                        reach: file == nil ? "not reported" : reach.isEmpty ? "no node" : reach.joined(separator: ", ")
                    )
                }
            )
        }
        files = detail.files.map { file in
            let reach = detail.reachableFrom(file)
            return FileRow(
                path: file.path,
                kind: file.kind,
                volume: file.volume ?? "—",
                format: file.format ?? "—",
                size: Frame.bytes(file.size),
                problem: file.problem,
                tone: Self.tone(file, reach: reach, owner: detail.owner, nodes: nodes),
                nodes: nodes.map { NodeReach(name: $0, reaches: reach.contains($0)) }
            )
        }
        targets = nodes.filter { $0 != detail.owner }
        migrateHref = "/ui/vms/\(HTMLText.segment(detail.id))/migrate"
        historyHref = Pager.url("/ui/history", [("vm", detail.id)])
        checkpointHref = "/ui/vms/\(HTMLText.segment(detail.id))/checkpoint"
        repairVolume = detail.risks.lazy.compactMap(\.repairTo).first
        repairHref = repairVolume.map { _ in "/ui/vms/\(HTMLText.segment(detail.id))/repair" }
    }
}
