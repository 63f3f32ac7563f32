import ClusterAPI
import DecisionEngine

/// `/ui/vms`: every VM with its risk badges, filtered by name, owner and risk, a page at a time.
struct VMListPage {
    struct Filter {
        let query: String
        let nodes: [Option]
        let risks: [Option]
    }

    struct Badge {
        let code: String
        let tone: String
    }

    struct Row {
        let name: String
        let href: String
        let owner: String
        let state: String
        let ha: String
        let checkpoints: Int
        let epoch: Int64
        let stranded: Bool
        let badges: [Badge]
    }

    let frame: Frame
    let filter: Filter
    let rows: [Row]
    let pager: Pager?

    /// Risk filters: the stranded VMs (a critical risk: `vms --stranded`), any risk, none, or one risk code.
    static func matches(_ vm: VMSummaryJSON, risk: String) -> Bool {
        switch risk {
        case "": true
        case "stranded": vm.stranded
        case "at-risk": !vm.risks.isEmpty
        case "clean": vm.risks.isEmpty
        default: vm.risks.contains(risk)
        }
    }

    init(frame: Frame, vms: [VMSummaryJSON], nodes: [String], query: String, node: String, risk: String, page: Int) {
        self.frame = frame
        let needle = query.lowercased()
        let matching = vms.filter { vm in
            (needle.isEmpty || vm.name.lowercased().contains(needle) || vm.id == query)
                && (node.isEmpty || vm.owner == node) && Self.matches(vm, risk: risk)
        }
        filter = Filter(
            query: query,
            nodes: nodes.map { Option($0, selected: node) },
            risks: [
                Option("", label: "any", selected: risk), Option("stranded", label: "stranded", selected: risk),
                Option("at-risk", label: "any risk", selected: risk), Option("clean", label: "no risk", selected: risk),
            ] + RiskCode.allCases.map { Option($0.rawValue, selected: risk) }
        )
        let (slice, pager) = Pager.slice(matching, page: page) {
            Pager.url("/ui/vms", [("q", query), ("node", node), ("risk", risk), ("page", "\($0)")])
        }
        self.pager = pager
        rows = slice.map { vm in
            Row(
                name: vm.name,
                href: "/ui/vms/" + HTMLText.segment(vm.id),
                owner: vm.owner,
                state: vm.state,
                ha: vm.highlyAvailable ? "yes" : "no",
                checkpoints: vm.checkpoints,
                epoch: vm.epoch,
                stranded: vm.stranded,
                badges: vm.risks.map { Badge(code: $0, tone: RiskCode(rawValue: $0)?.severity.rawValue ?? "warning") }
            )
        }
    }
}
