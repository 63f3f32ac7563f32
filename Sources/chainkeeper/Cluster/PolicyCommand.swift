import ArgumentParser
import ClusterAPI
import Foundation

/// `chainkeeper policy set | show | class` (SPEC §5, §7).
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "A VM's placement policy: HA, possible and preferred owners, anti-affinity, priority, threshold.",
        subcommands: [PolicySetCommand.self, PolicyShowCommand.self, PolicyClassCommand.self]
    )
}

struct PolicySetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change the given fields of a VM's policy (with --clear, start from the defaults)."
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The VM's name or id.") var vm: String
    @Option(help: "Highly available (true/false), overriding the inventory.") var ha: Bool?
    @Option(help: "Nodes allowed to own it, comma separated (empty: every node).") var possible: String?
    @Option(help: "Preferred owners in order, comma separated.") var preferred: String?
    @Option(name: .customLong("anti-affinity"), help: "Anti-affinity class (empty to remove).") var antiAffinity:
        String?
    @Option(help: "Failover priority: high, medium, low or none.") var priority: String?
    @Option(name: .customLong("max-failovers"), help: "Automatic failovers allowed within the period.")
    var maxFailovers: Int?
    @Option(name: .customLong("failover-period"), help: "The threshold's period, e.g. 6h.") var failoverPeriod: String?
    @Option(
        help: """
            What a node cut off from the coordinator but not from its storage does with the VM: keep-running \
            (the default) or stop (only while other nodes still run; then it fails over).
            """
    ) var isolation: String?
    @Option(
        name: .customLong("checkpoint-volume"),
        help: "The volume (name or id) the VM's next checkpoint files go to; empty: beside its disks."
    ) var checkpointVolume: String?
    @Option(
        help: """
            What drain does when the VM has a stranded file: refuse (the default: it stays, with its reasons) or \
            repair (its files are moved to its checkpoint volume first, then it moves). Failover never repairs.
            """
    ) var stranded: String?
    @Flag(help: "Start from the default policy.") var clear = false

    func run() async throws {
        func list(_ text: String?) -> [String]? {
            text.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        }
        let update = PolicyUpdate(
            clear: clear,
            highlyAvailable: ha,
            possibleOwners: list(possible),
            preferredOwners: list(preferred),
            antiAffinityClass: antiAffinity,
            priority: priority,
            maxFailovers: maxFailovers,
            failoverPeriod: failoverPeriod,
            isolation: isolation,
            checkpointVolume: checkpointVolume,
            stranded: stranded
        )
        let policy = try await options.put(
            "/v1/vms/\(PathSegment.encode(vm))/policy",
            body: update,
            as: PolicyJSON.self
        )
        if try !options.printJSON(policy) { print(PolicyShowCommand.render(policy), terminator: "") }
    }
}

struct PolicyShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "A VM's placement policy.")
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The VM's name or id.") var vm: String

    func run() async throws {
        let policy = try await options.get("/v1/vms/\(PathSegment.encode(vm))/policy", as: PolicyJSON.self)
        if try !options.printJSON(policy) { print(Self.render(policy), terminator: "") }
    }

    static func render(_ policy: PolicyJSON) -> String {
        let ha = policy.highlyAvailable.map { $0 ? "yes" : "no" } ?? "from the inventory"
        let enforced = policy.antiAffinityEnforced.map { $0 ? " (enforced)" : " (soft)" } ?? ""
        return TextTable.render(
            ["POLICY OF \(policy.vm)", ""],
            [
                ["highly available", "\(policy.effectiveHighlyAvailable ? "yes" : "no") (\(ha))"],
                [
                    "possible owners",
                    policy.possibleOwners.isEmpty ? "every node" : policy.possibleOwners.joined(separator: ", "),
                ],
                [
                    "preferred owners",
                    policy.preferredOwners.isEmpty ? "none" : policy.preferredOwners.joined(separator: ", "),
                ],
                ["anti-affinity", (policy.antiAffinityClass ?? "none") + enforced],
                ["priority", policy.priority],
                ["failover threshold", "\(policy.maxFailovers) in \(policy.failoverPeriod)"],
                ["when isolated", policy.isolation ?? "keep-running"],
                ["checkpoint volume", policy.checkpointVolume ?? "beside the disks"],
                ["when stranded", policy.stranded ?? "refuse"],
            ]
        )
    }
}

struct PolicyClassCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "class",
        abstract: "Enforce an anti-affinity class (refuse placements that break it) or make it soft."
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The class.") var name: String
    @Option(help: "true to enforce, false for soft.") var enforce: Bool

    func run() async throws {
        let answer = try await options.put(
            "/v1/classes/\(PathSegment.encode(name))",
            body: ClassUpdate(enforced: enforce),
            as: [String: String].self
        )
        if try !options.printJSON(answer) {
            print("anti-affinity class \(name): \(enforce ? "enforced" : "soft")")
        }
    }
}
