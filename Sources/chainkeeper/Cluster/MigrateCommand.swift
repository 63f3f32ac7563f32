import ArgumentParser
import ClusterAPI
import Foundation
import NIOCore

/// `chainkeeper migrate VM --to NODE`: the verdict, then the journaled move with the whole chain (SPEC §6-7).
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Move VM to NODE with every checkpoint file, through the journaled hand-off.",
        discussion: """
            Exit 0 committed; 3 refused (by the check or by the target's own preflight); 1 the move failed \
            (an agent did not answer, a hook failed); 4 no such VM or node.
            """
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The VM's name or id.") var vm: String
    @Option(help: "The target node.") var to: String
    @Flag(
        help: """
            A cold move: the VM stops on the source (libvirt: its state saved beside its disk) and starts on the \
            target. Only when asked; a live migration that fails is never retried this way.
            """
    )
    var offline = false

    func run() async throws {
        let outcome = try await options.post(
            "/v1/vms/\(PathSegment.encode(vm))/migrate",
            body: MigrateRequest(target: to, offline: offline ? true : nil),
            as: CheckResponse.self,
            timeout: .seconds(900)
        )
        if try !options.printJSON(outcome) {
            if let state = outcome.state, let id = outcome.migrationId {
                print(
                    "\(shown: outcome.vm) → \(shown: outcome.target): \(shown: state) (migration \(shown: id), epoch \(outcome.epoch ?? 0))"
                )
                for reason in outcome.reasons { print("  \(shown: reason.code): \(shown: reason.message)") }
            } else {
                print(CheckCommand.render(outcome), terminator: "")
            }
        }
        switch outcome.state {
        case "committed": return
        case nil: throw ExitCode(3)
        default:
            // Refused by the target's own preflight: its SPEC §5 codes and the libvirt hand-off's (issue 23).
            let spec: Set<String> = [
                "file-on-local-volume", "volume-not-verified", "file-missing", "chain-broken", "disk-needs-log-replay",
                "secret-missing", "libvirt-unreachable",
            ]
            throw outcome.reasons.contains(where: { spec.contains($0.code) }) ? ExitCode(3) : ExitCode.failure
        }
    }
}

/// `chainkeeper history [--vm VM]`.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Migrations and failovers: steps, times, reasons, outcome, and who asked."
    )
    @OptionGroup var options: CoordinatorOptions
    @Option(help: "Only this VM (name or id).") var vm: String?

    func run() async throws {
        let path = vm.map { "/v1/history?vm=\(PathSegment.encode($0))" } ?? "/v1/history"
        let entries = try await options.get(path, as: [HistoryEntryJSON].self)
        if try options.printJSON(entries) { return }
        let formatter = ISO8601DateFormatter()
        func time(_ milliseconds: Int64) -> String {
            formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
        }
        var out = ""
        for entry in entries {
            // A checkpoint operation happens on its owner: source and target are the same node.
            let place =
                entry.source == entry.target
                ? "on \(shown: entry.source)" : "\(shown: entry.source) → \(shown: entry.target)"
            out += "\(time(entry.createdAt))  \(shown: entry.vm)  \(place)  \(shown: entry.kind)  "
            out += "epoch \(entry.epoch)  \(shown: entry.state)  by \(shown: entry.requestedBy)  (\(shown: entry.id))\n"
            for step in entry.steps {
                out += "    \(time(step.at))  \(shown: step.state)\(step.detail.map { "  \(shown: $0)" } ?? "")\n"
            }
            for reason in entry.reasons { out += "    reason \(shown: reason.code): \(shown: reason.message)\n" }
        }
        print(entries.isEmpty ? "no migrations or operations yet" : out, terminator: entries.isEmpty ? "\n" : "")
    }
}
