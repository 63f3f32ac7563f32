import ArgumentParser
import ClusterAPI
import Foundation

/// `chainkeeper nodes`.
struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "Nodes with state, lease, VMs and memory."
    )
    @OptionGroup var options: CoordinatorOptions

    func run() async throws {
        let nodes = try await options.get("/v1/nodes", as: [NodeJSON].self)
        if try options.printJSON(nodes) { return }
        print(
            TextTable.render(
                ["NODE", "STATE", "LEASE", "VMS", "MEMORY (MiB)"],
                nodes.map { node in
                    [
                        node.name, node.state, node.leaseExpiresIn.map { String(format: "%.1fs", $0) } ?? "-",
                        String(node.vmCount), "\(node.memoryUsedMiB)/\(node.memoryMiB.map(String.init) ?? "-")",
                    ]
                }
            ),
            terminator: ""
        )
    }
}

/// `chainkeeper volumes`.
struct VolumesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volumes",
        abstract: "Volumes, the nodes each is verified reachable from, and free space."
    )
    @OptionGroup var options: CoordinatorOptions

    func run() async throws {
        let volumes = try await options.get("/v1/volumes", as: [VolumeJSON].self)
        if try options.printJSON(volumes) { return }
        print(
            TextTable.render(
                ["VOLUME", "KIND", "REACHABLE FROM", "FREE", "ID"],
                volumes.map {
                    [
                        $0.name, $0.kind, $0.reachableFrom.joined(separator: ","),
                        $0.freeBytes.map { ByteCountFormatter.string(fromByteCount: $0, countStyle: .binary) } ?? "-",
                        $0.id,
                    ]
                }
            ),
            terminator: ""
        )
    }
}

/// `chainkeeper vms [--node N] [--stranded]`.
struct VMsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vms",
        abstract: "VMs with owner, state, HA, checkpoints and risk."
    )
    @OptionGroup var options: CoordinatorOptions
    @Option(help: "Only VMs owned by this node.") var node: String?
    @Flag(help: "Only stranded VMs (those with a critical risk).") var stranded = false

    func run() async throws {
        var query: [String] = []
        if let node { query.append("node=\(PathSegment.encode(node))") }
        if stranded { query.append("stranded=true") }
        let vms = try await options.get(
            "/v1/vms" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")),
            as: [VMSummaryJSON].self
        )
        if try options.printJSON(vms) { return }
        print(
            TextTable.render(
                ["VM", "OWNER", "STATE", "HA", "CHECKPOINTS", "RISK"],
                vms.map { vm in
                    [
                        vm.name, vm.owner, vm.state, vm.highlyAvailable ? "yes" : "no", String(vm.checkpoints),
                        vm.stranded
                            ? "STRANDED " + vm.risks.joined(separator: ",")
                            : (vm.risks.isEmpty ? "-" : vm.risks.joined(separator: ",")),
                    ]
                }
            ),
            terminator: ""
        )
    }
}

/// `chainkeeper vm show VM`.
struct VMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "One VM.",
        subcommands: [VMShowCommand.self, VMClearCommand.self]
    )
}

struct VMShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Owner, epoch, checkpoint tree, every file with its volume, and each chain."
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The VM's name or id.") var vm: String

    func run() async throws {
        let detail = try await options.get("/v1/vms/\(PathSegment.encode(vm))", as: VMDetailJSON.self)
        if try options.printJSON(detail) { return }
        var out = "\(shown: detail.name)  id \(shown: detail.id)\n"
        out +=
            "owner \(shown: detail.owner)  epoch \(detail.epoch)  state \(shown: detail.state)  HA \(detail.highlyAvailable ? "yes" : "no")\n\ncheckpoints\n"
        func tree(_ snapshot: VMDetailJSON.Snapshot, _ prefix: String) {
            out += "\(prefix)\(shown: snapshot.name)  (\(shown: snapshot.id))\n"
            for child in snapshot.children { tree(child, prefix + "  ") }
        }
        if detail.snapshots.isEmpty { out += "  (none)\n" }
        for root in detail.snapshots { tree(root, "  ") }
        out += "\nfiles\n"
        out += TextTable.render(
            ["  PATH", "KIND", "VOLUME", "FORMAT", "REACHABLE FROM"],
            detail.files.map {
                [
                    "  " + $0.path, $0.kind, $0.volume ?? "(none)", $0.format ?? "-",
                    detail.reachableFrom($0).joined(separator: ","),
                ]
            }
        )
        out += "\nchains\n"
        for chain in detail.chains { out += "  \(shown: chain.paths.joined(separator: " → "))\n" }
        if let metadata = detail.hypervisorMetadata {
            // The domain and snapshot XML a failover defines the VM from (libvirt VMs).
            out += "\nhypervisor metadata\n  "
            if metadata.held {
                out += "held: \(metadata.snapshots ?? 0) snapshot(s), received \(metadata.ageSeconds ?? 0) s ago\n"
            } else if metadata.heldDigest != nil {
                out +=
                    "older than the owner's: the agent's upload is due (a failover uses it only while its leaves "
                    + "are still the VM's)\n"
            } else {
                out += "not held yet: the agent's upload is due; the VM cannot be defined on another host until then\n"
            }
        }
        if !detail.risks.isEmpty {
            out += "\nrisks\n"
            for risk in detail.risks {
                out += "  \(shown: risk.severity) \(shown: risk.code): \(shown: risk.message)\n"
            }
        }
        print(out, terminator: "")
    }
}

/// `chainkeeper audit`: exit 3 when any risk is critical.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Every risk in the cluster; exit 3 if any is critical."
    )
    @OptionGroup var options: CoordinatorOptions

    func run() async throws {
        let audit = try await options.get("/v1/audit", as: AuditResponse.self)
        if try !options.printJSON(audit) {
            if audit.risks.isEmpty {
                print("no risks")
            } else {
                print(
                    TextTable.render(
                        ["SEVERITY", "CODE", "VM", "NODE", "PATH / MESSAGE"],
                        audit.risks.map { [$0.severity, $0.code, $0.vm ?? "-", $0.node ?? "-", $0.path ?? $0.message] }
                    ),
                    terminator: ""
                )
            }
        }
        if audit.risks.contains(where: { $0.severity == "critical" }) { throw ExitCode(3) }
    }
}
