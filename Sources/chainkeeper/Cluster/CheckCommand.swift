import ArgumentParser
import ClusterAPI
import Foundation

/// `chainkeeper check VM --to NODE`: the placement verdict, moving nothing (SPEC §5, §7).
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Would VM be allowed to move to NODE? Lists every reason it would not (exit 3), moving nothing."
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The VM's name or id.") var vm: String
    @Option(help: "The target node.") var to: String

    func run() async throws {
        let verdict = try await options.get(
            "/v1/vms/\(PathSegment.encode(vm))/check?to=\(PathSegment.encode(to))",
            as: CheckResponse.self
        )
        if try !options.printJSON(verdict) { print(Self.render(verdict), terminator: "") }
        if !verdict.allowed { throw ExitCode(3) }
    }

    static func render(_ verdict: CheckResponse) -> String {
        guard !verdict.allowed else { return "\(shown: verdict.vm) → \(shown: verdict.target): allowed\n" }
        var out =
            "\(shown: verdict.vm) → \(shown: verdict.target): refused (\(verdict.reasons.count) \(verdict.reasons.count == 1 ? "reason" : "reasons"))\n"
        for reason in verdict.reasons {
            out += "  \(shown: reason.code): \(shown: reason.message)\n"
        }
        return out
    }
}
