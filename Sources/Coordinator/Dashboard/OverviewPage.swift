import ClusterAPI
import DecisionEngine

/// `/ui`: counts, nodes with their lease, and the volumes × nodes reachability matrix.
struct OverviewPage {
    struct Count {
        let value: String
        let label: String
        let tone: String
        let href: String
    }

    struct NodeRow {
        let name: String
        let state: String
        let lease: String
        let driver: String
        let vmCount: Int
        let memory: String
        let vmsHref: String
        let whatifHref: String
        let drainHref: String?
        let resumeHref: String?
    }

    struct Cell {
        let tone: String
        let mark: String
        let title: String
    }

    struct VolumeRow {
        let name: String
        let kind: String
        let cells: [Cell]
    }

    let frame: Frame
    let counts: [Count]
    let nodes: [NodeRow]
    let matrixNodes: [String]
    let volumes: [VolumeRow]

    init(frame: Frame, nodes: [NodeJSON], volumes: [VolumeJSON], audit: AuditCache.Entry) {
        self.frame = frame
        let stranded = audit.summaries.filter(\.stranded).count
        let critical = audit.risks.filter { $0.severity == .critical }.count
        let warnings = audit.risks.count - critical
        let up = nodes.filter { $0.state == "up" }.count
        counts = [
            Count(
                value: "\(up)/\(nodes.count)",
                label: "nodes up",
                tone: up == nodes.count ? "ok" : "warning",
                href: "/ui"
            ),
            Count(value: "\(audit.summaries.count)", label: "VMs", tone: "", href: "/ui/vms"),
            Count(
                value: "\(stranded)",
                label: "stranded VMs",
                tone: stranded == 0 ? "ok" : "critical",
                href: "/ui/vms?risk=stranded"
            ),
            Count(
                value: "\(critical)",
                label: "critical risks",
                tone: critical == 0 ? "ok" : "critical",
                href: "/ui/audit?severity=critical"
            ),
            Count(
                value: "\(warnings)",
                label: "warnings",
                tone: warnings == 0 ? "ok" : "warning",
                href: "/ui/audit?severity=warning"
            ),
        ]
        self.nodes = nodes.map { node in
            let segment = HTMLText.segment(node.name)
            return NodeRow(
                name: node.name,
                state: node.state,
                lease: node.leaseExpiresIn.map { $0 > 0 ? "\(Self.seconds($0)) left" : "expired" } ?? "—",
                driver: node.driver ?? "—",
                vmCount: node.vmCount,
                memory: node.memoryMiB.map { "\(node.memoryUsedMiB / 1024) / \($0 / 1024) GiB" }
                    ?? "\(node.memoryUsedMiB / 1024) GiB",
                vmsHref: Pager.url("/ui/vms", [("node", node.name)]),
                whatifHref: Pager.url("/ui/whatif", [("node", node.name)]),
                drainHref: node.state == "up" ? "/ui/nodes/\(segment)/drain" : nil,
                resumeHref: ["draining", "quarantined"].contains(node.state) ? "/ui/nodes/\(segment)/resume" : nil
            )
        }
        matrixNodes = nodes.map(\.name)
        self.volumes = volumes.map { volume in
            VolumeRow(
                name: volume.name,
                kind: volume.kind,
                cells: nodes.map { node in
                    if volume.reachableFrom.contains(node.name) {
                        return Cell(tone: "yes", mark: "✓", title: "\(node.name) reaches \(volume.name)")
                    }
                    if volume.reportedBy.contains(node.name) {
                        return Cell(
                            tone: "listed",
                            mark: "?",
                            title: "\(node.name) mounts \(volume.name) but its probe there has not passed lately"
                        )
                    }
                    return Cell(tone: "no", mark: "", title: "\(node.name) does not mount \(volume.name)")
                }
            )
        }
    }

    static func seconds(_ value: Double) -> String {
        value >= 100 ? "\(Int(value)) s" : "\(Double(Int(value * 10)) / 10) s"
    }
}
