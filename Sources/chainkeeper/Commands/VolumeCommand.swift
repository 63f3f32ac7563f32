import Agent
import ArgumentParser
import ChainModel
import Foundation

/// `chainkeeper volume …`: volume markers, written locally.
struct VolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Manage volume markers.",
        subcommands: [VolumeInitCommand.self]
    )
}

/// `chainkeeper volume init DIR --name NAME`: marks DIR as the root of a volume.
struct VolumeInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a volume marker (.chainkeeper-volume) at the root of a volume.",
        discussion: """
            Every agent that finds the marker under its configured `volumes` reports the volume, so the \
            coordinator can tell which nodes reach it. An existing marker is never overwritten: the volume's \
            id is what the cluster knows it by.
            """
    )

    @Argument(help: "The directory at the root of the volume.")
    var directory: String

    @Option(help: "A name administrators will recognise, e.g. csv1 or nfs-gold.")
    var name: String

    func validate() throws {
        guard VolumeMarker.isValidName(name) else {
            throw ValidationError("--name must be 1 to 255 printable characters")
        }
    }

    func run() async throws {
        let marker = VolumeMarker(id: UUID().uuidString.lowercased(), name: name)
        do {
            let path = try marker.write(into: directory)
            print("wrote \(path): volume '\(marker.name)' id \(marker.id)")
        } catch {
            printError(error.message)
            throw ExitCode.failure
        }
    }
}
