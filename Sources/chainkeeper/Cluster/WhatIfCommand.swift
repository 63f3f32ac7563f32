import ArgumentParser
import ClusterAPI
import Foundation

/// `chainkeeper whatif fail NODE`: the failover plan if NODE died now, changing nothing (SPEC §7).
struct WhatIfCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whatif",
        abstract: "What failover would do if a node died now, changing nothing.",
        subcommands: [WhatIfFailCommand.self]
    )
}

struct WhatIfFailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fail",
        abstract: "The plan for NODE's highly available VMs, and the ones that would be held (exit 3 if any)."
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The node.") var node: String

    func run() async throws {
        let plan = try await options.get("/v1/whatif?fail=\(PathSegment.encode(node))", as: WhatIfResponse.self)
        if try !options.printJSON(plan) {
            var out =
                "if \(shown: plan.node) failed now: \(plan.moves.count) would move, \(plan.blocked.count) would be held\n"
            if !plan.moves.isEmpty {
                out += TextTable.render(["  VM", "TARGET"], plan.moves.map { ["  " + $0.vm, $0.target] })
            }
            for blocked in plan.blocked {
                out += "  held: \(shown: blocked.vm)\n"
                for reason in blocked.reasons { out += "    \(shown: reason.code): \(shown: reason.message)\n" }
                if let volume = blocked.repairTo {
                    out +=
                        "    fix it now, while its owner runs: chainkeeper repair \(shown: blocked.vm) --to-volume "
                        + "\(shown: volume)\n"
                }
            }
            print(out, terminator: "")
        }
        if !plan.blocked.isEmpty { throw ExitCode(3) }
    }
}
