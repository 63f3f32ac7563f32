import ArgumentParser
import ClusterAPI
import Foundation
import NIOCore
import NIOHTTP1

/// `chainkeeper repair VM [--to-volume VOLUME] [--dry-run] [--keep-old]` (SPEC §7, issue 25).
struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Move a stranded VM's files (and the disks above them) to a volume every possible owner reaches.",
        discussion: """
            The owner's agent copies each file, verifies the copy, re-links the disks, switches the hypervisor to the \
            copies (a running VM keeps running) and then removes the originals, journaled like a migration. \
            Exit 0 repaired, or with --dry-run the plan is allowed; 3 refused (every reason); 1 failed (the VM runs \
            on whichever complete chain the failure left, the originals until the switch); 4 no such VM or volume.
            """
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The VM's name or id.") var vm: String
    @Option(
        name: .customLong("to-volume"),
        help: """
            The volume (name or id); default: the policy's checkpoint volume, else the shared volume every possible \
            owner reaches with the most free space.
            """
    ) var toVolume: String?
    @Flag(name: .customLong("dry-run"), help: "Print the plan and change nothing.") var dryRun = false
    @Flag(name: .customLong("keep-old"), help: "Keep the original files after the switch.") var keepOld = false

    func run() async throws {
        let outcome = try await options.call(
            "/v1/vms/\(PathSegment.encode(vm))/repair",
            body: RepairRequest(volume: toVolume, dryRun: dryRun ? true : nil, keepOld: keepOld ? true : nil),
            as: RepairResponse.self,
            method: .POST,
            timeout: .seconds(3600)
        )
        if try !options.printJSON(outcome) {
            let verdict = outcome.allowed ? "allowed" : "refused"
            print(
                "\(shown: outcome.vm): repair onto volume \(shown: outcome.volume): \(verdict)\(dryRun ? " (dry run)" : "")"
            )
            if outcome.files.isEmpty { print("  no stranded file") }
            for file in outcome.files {
                let why = file.why == "above-stranded" ? "  (above a stranded file)" : ""
                print("  \(shown: file.from) → \(shown: file.to)  \(file.size) bytes\(why)")
            }
            if let state = outcome.state, let id = outcome.operationId { print("  operation \(id): \(state)") }
            if let message = outcome.message { print("  \(shown: message)") }
            if outcome.failoverCleared == true { print("  failover-blocked cleared") }
            for reason in outcome.reasons { print("  \(shown: reason.code): \(shown: reason.message)") }
        }
        guard outcome.allowed else {
            // Refused by the plan or the owner's preflight: 3; the owner tried and failed: 1.
            let failed = outcome.state == "aborted" && outcome.reasons.contains { $0.code == "operation-failed" }
            throw ExitCode(failed ? 1 : 3)
        }
    }
}
