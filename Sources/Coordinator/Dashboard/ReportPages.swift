import ChainModel
import ClusterAPI

/// `/ui/audit`: every risk, critical first, with what to do.
struct AuditPage {
    struct Row {
        let severity: String
        let code: String
        let vm: String?
        let href: String?
        let node: String?
        let volume: String?
        let message: String
        let path: String?
    }

    let frame: Frame
    let filter: [Option]
    let rows: [Row]
    let pager: Pager?

    init(frame: Frame, risks: [RiskJSON], severity: String, page: Int) {
        self.frame = frame
        filter = [
            Option("", label: "all", selected: severity), Option("critical", selected: severity),
            Option("warning", selected: severity),
        ]
        let matching = risks.filter { severity.isEmpty || $0.severity == severity }
        let (slice, pager) = Pager.slice(matching, page: page, size: 200) {
            Pager.url("/ui/audit", [("severity", severity), ("page", "\($0)")])
        }
        self.pager = pager
        rows = slice.map { risk in
            Row(
                severity: risk.severity,
                code: risk.code,
                vm: risk.vm,
                href: risk.vmId.map { "/ui/vms/" + HTMLText.segment($0) },
                node: risk.node,
                volume: risk.volume,
                message: risk.message,
                path: risk.path
            )
        }
    }
}

/// `/ui/history`: journaled migrations, drains and failovers, newest first.
struct HistoryPage {
    struct Row {
        let created: String
        let vm: String
        let href: String
        let kind: String
        let source: String
        let target: String
        let epoch: Int64
        let state: String
        let requestedBy: String
        let abortReason: String?
        let reasons: [ReasonRow]
        let hasReasons: Bool
    }

    let frame: Frame
    let vmFilter: String?
    let rows: [Row]
    let pager: Pager?

    init(frame: Frame, entries: [HistoryEntryJSON], vmFilter: String?, vmKey: String?, page: Int) {
        self.frame = frame
        self.vmFilter = vmFilter
        let (slice, pager) = Pager.slice(entries, page: page) {
            Pager.url("/ui/history", [("vm", vmKey), ("page", "\($0)")])
        }
        self.pager = pager
        rows = slice.map { entry in
            Row(
                created: Frame.time(Timestamp(millisecondsSinceEpoch: entry.createdAt)),
                vm: entry.vm,
                href: "/ui/vms/" + HTMLText.segment(entry.vmId),
                kind: entry.kind,
                source: entry.source,
                target: entry.target,
                epoch: entry.epoch,
                state: entry.state,
                requestedBy: entry.requestedBy,
                abortReason: entry.abortReason,
                reasons: entry.reasons.map(ReasonRow.init),
                hasReasons: !entry.reasons.isEmpty
            )
        }
    }
}

/// `/ui/whatif?node=NODE`: the plan `chainkeeper whatif fail NODE` prints, as a page.
struct WhatIfPage {
    struct Move {
        let vm: String
        let href: String
        let target: String
    }

    struct Blocked {
        let vm: String
        let href: String
        let reasons: [ReasonRow]
    }

    struct Plan {
        let moves: [Move]
        let blocked: [Blocked]
        let moveCount: Int
        let blockedCount: Int
    }

    let frame: Frame
    let nodes: [Option]
    let plan: Plan?

    init(frame: Frame, nodes: [String], selected: String?, plan: WhatIfResponse?) {
        self.frame = frame
        self.nodes = nodes.map { Option($0, selected: selected) }
        self.plan = plan.map { plan in
            Plan(
                moves: plan.moves.map {
                    Move(vm: $0.vm, href: "/ui/vms/" + HTMLText.segment($0.vmId), target: $0.target)
                },
                blocked: plan.blocked.map {
                    Blocked(
                        vm: $0.vm,
                        href: "/ui/vms/" + HTMLText.segment($0.vmId),
                        reasons: $0.reasons.map(ReasonRow.init)
                    )
                },
                moveCount: plan.moves.count,
                blockedCount: plan.blocked.count
            )
        }
    }
}
