import ArgumentParser
import ClusterAPI
import Foundation
import NIOCore
import NIOHTTP1

/// `chainkeeper checkpoint list|create|delete|revert` (SPEC §7, issue 24).
struct CheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "List, take, delete and revert a VM's checkpoints through its owner, after the location rule.",
        subcommands: [List.self, Create.self, Delete.self, Revert.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The checkpoint tree, the current checkpoint marked.",
            discussion: "Exit 0; 4 no such VM."
        )
        @OptionGroup var options: CoordinatorOptions
        @Argument(help: "The VM's name or id.") var vm: String

        func run() async throws {
            let list = try await options.get(
                "/v1/vms/\(PathSegment.encode(vm))/checkpoints",
                as: CheckpointListJSON.self
            )
            if try options.printJSON(list) { return }
            guard !list.snapshots.isEmpty else {
                print("\(shown: list.vm) has no checkpoints")
                return
            }
            var out = ""
            func walk(_ snapshot: VMDetailJSON.Snapshot, depth: Int) {
                let mark = snapshot.id == list.current || snapshot.name == list.current ? "  ← current" : ""
                out += String(repeating: "  ", count: depth) + "\(shown: snapshot.name)\(mark)\n"
                for child in snapshot.children { walk(child, depth: depth + 1) }
            }
            for root in list.snapshots { walk(root, depth: 0) }
            print(out, terminator: "")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a checkpoint on the owner, after the location rule.",
            discussion: """
                Exit 0 taken; 3 refused (checkpoint-location-local, volume-space-low, operation-in-progress, a \
                broken chain, the owner's own refusal); 1 failed; 4 no such VM.
                """
        )
        @OptionGroup var options: CoordinatorOptions
        @Argument(help: "The VM's name or id.") var vm: String
        @Argument(help: "The new checkpoint's name (letters, digits, '.', '_', '-').") var name: String
        @Flag(help: "Save the VM's memory with the disks.") var memory = false
        @Flag(help: "The disks only (the default).") var diskOnly = false
        @Option(help: "A description kept with the checkpoint.") var description: String?

        func validate() throws {
            if memory && diskOnly { throw ValidationError("--memory and --disk-only exclude each other") }
        }

        func run() async throws {
            let outcome = try await options.call(
                "/v1/vms/\(PathSegment.encode(vm))/checkpoints",
                body: CheckpointCreateRequest(name: name, memory: memory ? true : nil, description: description),
                as: CheckpointResponse.self,
                method: .POST,
                timeout: .seconds(3600)
            )
            try CheckpointCommand.finish(outcome, options: options, what: "create \(name)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a checkpoint, merging its differencing disks.",
            discussion: "Exit 0 deleted; 3 refused; 1 failed; 4 no such VM or checkpoint."
        )
        @OptionGroup var options: CoordinatorOptions
        @Argument(help: "The VM's name or id.") var vm: String
        @Argument(help: "The checkpoint's name or id.") var checkpoint: String
        @Flag(help: "Also every checkpoint below it.") var children = false

        func run() async throws {
            let query = children ? "?children=true" : ""
            let outcome = try await options.call(
                "/v1/vms/\(PathSegment.encode(vm))/checkpoints/\(PathSegment.encode(checkpoint))\(query)",
                body: [String: String](),
                as: CheckpointResponse.self,
                method: .DELETE,
                timeout: .seconds(3600)
            )
            try CheckpointCommand.finish(outcome, options: options, what: "delete \(checkpoint)")
        }
    }

    struct Revert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Return the VM to a checkpoint (on a new overlay; the state before is kept on disk).",
            discussion: "Exit 0 reverted; 3 refused; 1 failed; 4 no such VM or checkpoint."
        )
        @OptionGroup var options: CoordinatorOptions
        @Argument(help: "The VM's name or id.") var vm: String
        @Argument(help: "The checkpoint's name or id.") var checkpoint: String

        func run() async throws {
            let outcome = try await options.call(
                "/v1/vms/\(PathSegment.encode(vm))/checkpoints/\(PathSegment.encode(checkpoint))/revert",
                body: [String: String](),
                as: CheckpointResponse.self,
                method: .POST,
                timeout: .seconds(3600)
            )
            try CheckpointCommand.finish(outcome, options: options, what: "revert to \(checkpoint)")
        }
    }

    /// Prints the outcome and exits as SPEC §7 says: 0 done, 3 refused (the rule's or the owner's reasons), 1 failed.
    static func finish(_ outcome: CheckpointResponse, options: CoordinatorOptions, what: String) throws {
        if try !options.printJSON(outcome) {
            let state = outcome.state ?? "refused"
            var line = "\(shown: outcome.vm): \(shown: what): \(shown: state)"
            if let id = outcome.operationId { line += " (operation \(shown: id), epoch \(outcome.epoch ?? 0))" }
            print(line)
            for file in outcome.files ?? [] where outcome.allowed || outcome.state == nil {
                print("  \(shown: file.kind) \(shown: file.path)")
            }
            for reason in outcome.reasons { print("  \(shown: reason.code): \(shown: reason.message)") }
        }
        if outcome.allowed { return }
        // Refused by the rule, or by the owner's preflight; a failed apply is a failure.
        if outcome.state == nil || !outcome.reasons.contains(where: { $0.code == "operation-failed" }) {
            throw ExitCode(3)
        }
        throw ExitCode.failure
    }
}
