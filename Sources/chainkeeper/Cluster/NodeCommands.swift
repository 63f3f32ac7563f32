import ArgumentParser
import ClusterAPI
import Foundation
import NIOCore
import NIOHTTP1

/// `chainkeeper node resume|fence-confirm|remove NODE` (SPEC §6-7).
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "End a drain, confirm a node is off, or forget a node.",
        subcommands: [NodeResumeCommand.self, NodeFenceConfirmCommand.self, NodeRemoveCommand.self]
    )
}

/// Prints an action's answer (or its JSON).
func report(_ answer: ActionResponse, options: CoordinatorOptions) throws {
    if try options.printJSON(answer) { return }
    print("\(shown: answer.name): \(shown: answer.state). \(shown: answer.message)")
}

struct NodeResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "End a drain: the node takes VMs again."
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The node's name.") var node: String

    func run() async throws {
        try report(
            try await options.act("/v1/nodes/\(PathSegment.encode(node))/resume", as: ActionResponse.self),
            options: options
        )
    }
}

struct NodeFenceConfirmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fence-confirm",
        abstract: "Confirm by hand that a down node is off; it counts as fenced and its VMs fail over.",
        discussion: "Refused (exit 3) while the node's lease is still valid."
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The node's name.") var node: String

    func run() async throws {
        try report(
            try await options.act("/v1/nodes/\(PathSegment.encode(node))/fence-confirm", as: ActionResponse.self),
            options: options
        )
    }
}

struct NodeRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Forget a node that owns no VM and holds no lease."
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The node's name.") var node: String

    func run() async throws {
        try report(
            try await options.act("/v1/nodes/\(PathSegment.encode(node))", as: ActionResponse.self, method: .DELETE),
            options: options
        )
    }
}

/// `chainkeeper vm clear VM`.
struct VMClearCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear",
        abstract: "Clear failover-blocked and the failover count after fixing the cause."
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The VM's name or id.") var vm: String

    func run() async throws {
        try report(
            try await options.act("/v1/vms/\(PathSegment.encode(vm))/clear", as: ActionResponse.self),
            options: options
        )
    }
}

/// `chainkeeper drain NODE`.
struct DrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Move every HA VM off a node (same rules as failover); report what stayed.",
        discussion: "The node stays draining until `chainkeeper node resume`. Exits 3 if any VM stayed."
    )
    @OptionGroup var options: CoordinatorOptions
    @Argument(help: "The node's name.") var node: String

    func run() async throws {
        let answer = try await options.act(
            "/v1/nodes/\(PathSegment.encode(node))/drain",
            as: DrainResponse.self,
            timeout: .hours(2)
        )
        if try !options.printJSON(answer) {
            print(
                "\(shown: answer.node) is \(shown: answer.state): \(answer.moved.count) moved, \(answer.stayed.count) stayed"
            )
            for repaired in answer.repaired ?? [] {
                print("repaired \(shown: repaired.vm): its stranded files moved to volume \(shown: repaired.volume)")
            }
            if !answer.moved.isEmpty {
                print(TextTable.render(["MOVED", "TO"], answer.moved.map { [$0.vm, $0.target] }), terminator: "")
            }
            for stayed in answer.stayed {
                print("stayed \(shown: stayed.vm):")
                for reason in stayed.reasons { print("  \(shown: reason.code): \(shown: reason.message)") }
            }
        }
        if !answer.stayed.isEmpty { throw ExitCode(3) }
    }
}
