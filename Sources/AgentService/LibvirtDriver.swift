import Agent
import ChainModel
import ClusterAPI
import DiskAccess
import DiskFormats
import Foundation
import LibvirtClient

/// What the agent's libvirt operations (checkpoints, repair) share: the domain a command names, libvirt's errors as the
/// operation's failure, `qemu-img`, and what a disk file's header says.
protocol LibvirtDriver: Sendable {
    var settings: AgentConfig.LibvirtSettings { get }
    var node: String { get }
    /// `/usr/bin/qemu-img`.
    var qemuImg: String { get }
}

extension LibvirtDriver {
    typealias Failure = LibvirtHandOff.Failure

    /// The domain `command` names, by UUID, on this node's libvirt.
    func domain(_ command: AgentCommand) throws(Failure) -> LibvirtDomain {
        let connection: LibvirtConnection
        do {
            connection = try LibvirtConnection(uri: settings.uri)
        } catch {
            throw Failure(message: error.message)
        }
        guard let domain = connection.domain(uuid: command.vmId) else {
            throw Failure(message: "\(command.vmName) (\(command.vmId)) is not defined in \(settings.uri) on \(node)")
        }
        return domain
    }

    func call<T>(_ body: () throws(LibvirtError) -> T) throws(Failure) -> T {
        do {
            return try body()
        } catch {
            throw Failure(message: error.message)
        }
    }

    func fileDisks(_ xml: String) throws(Failure) -> [LibvirtCheckpointXML.FileDisk] {
        do throws(LibvirtCheckpointXML.Failure) {
            return try LibvirtCheckpointXML.fileDisks(of: xml)
        } catch {
            throw Failure(message: error.description)
        }
    }

    /// Runs `qemu-img` with `arguments`; its error output becomes the failure.
    func run(_ arguments: [String]) throws(Failure) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: qemuImg)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw Failure(message: "cannot run \(qemuImg) (install qemu-utils): \(error.localizedDescription)")
        }
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                message: "qemu-img \(arguments.first ?? "") failed (\(process.terminationStatus)): "
                    + String(decoding: output.prefix(2048), as: UTF8.self).trimmingCharacters(
                        in: .whitespacesAndNewlines
                    )
            )
        }
    }

    /// Removes `path` if it exists.
    func remove(_ path: String) throws(Failure) {
        guard FileManager.default.fileExists(atPath: path) else { return }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw Failure(message: "cannot remove \(path): \(error.localizedDescription)")
        }
    }

    /// A qcow2 file's backing file, resolved against its directory; nil for a base or an unreadable file.
    func backingFile(of path: String) -> String? {
        guard let source = try? FileByteSource(path: path),
            let info = try? DiskImageReader.read(source, name: path),
            let backing = info.parent?.backingFile, !backing.isEmpty
        else { return nil }
        return LocalPath.join(LocalPath.directory(of: path), backing)
    }

    /// `qcow2`, or `raw` for anything else (as libvirt's driver type names it).
    func format(of path: String) -> String {
        guard let source = try? FileByteSource(path: path), let info = try? DiskImageReader.read(source, name: path)
        else { return "raw" }
        return info.format == .qcow2 ? "qcow2" : "raw"
    }
}
