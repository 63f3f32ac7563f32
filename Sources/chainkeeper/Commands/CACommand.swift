import ArgumentParser
import ClusterTLS
import Crypto
import Foundation

/// `chainkeeper ca init | issue` (SPEC §7): the cluster CA, local, no coordinator.
struct CACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Create the cluster CA and issue node, admin and server certificates (local).",
        subcommands: [CAInitCommand.self, CAIssueCommand.self]
    )
}

struct CAInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a cluster CA: DIR/ca.crt and DIR/ca.key (PEM, P-256, ten years).",
        discussion: "Keep ca.key offline once the certificates are issued; an existing CA is never replaced."
    )
    @Argument(help: "The directory for ca.crt and ca.key.") var directory: String

    func run() throws {
        do {
            try ClusterCA.initialize(in: directory)
        } catch {
            printError(error.message)
            throw ExitCode.failure
        }
        print("CA written: \(directory)/ca.crt, \(directory)/ca.key (keep the key secret)")
    }
}

struct CAIssueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue OUT/NAME.crt and OUT/NAME.key signed by the CA in DIR (one year).",
        discussion: """
            --node NAME: an agent's client certificate; it may act only for NAME. --admin NAME: an administrator's \
            client certificate. --server HOST[,HOST…]: the coordinator's server certificate for those host names and \
            IPv4 addresses (NAME is the first host).
            """
    )
    @Argument(help: "The CA's directory (ca.crt, ca.key).") var directory: String
    @Option(help: "Issue a node certificate for this node.") var node: String?
    @Option(help: "Issue an admin certificate for this administrator.") var admin: String?
    @Option(help: "Issue a server certificate for these hosts (comma separated).") var server: String?
    @Option(help: "Where to write NAME.crt and NAME.key.") var out: String
    @Option(help: "Days the certificate is valid.") var days: Int = 365

    func validate() throws {
        guard [node, admin, server].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --node, --admin or --server")
        }
        guard days > 0, days <= 3650 else { throw ValidationError("--days must be between 1 and 3650") }
    }

    func run() throws {
        let role: ClusterCA.Role
        if let node {
            role = .node(node)
        } else if let admin {
            role = .admin(admin)
        } else {
            role = .server(
                hosts: (server ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
            )
        }
        do {
            let path = try ClusterCA.issue(
                role,
                caDirectory: directory,
                out: out,
                lifetime: TimeInterval(days) * 86_400
            )
            print("issued \(path) and its key")
        } catch {
            printError(error.message)
            throw ExitCode.failure
        }
    }
}

/// `chainkeeper token hash TOKEN`: the `sha256:` form of a token for a config file.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Token helpers (local).",
        subcommands: [TokenHashCommand.self]
    )
}

struct TokenHashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash",
        abstract: "Print the sha256: form of a token, to put in adminTokens or agentTokens instead of the token."
    )
    @Argument(help: "The token.") var token: String

    func run() {
        print("sha256:" + SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined())
    }
}
