import Agent
import ArgumentParser
import DiskAccess
import DiskFormats
import Foundation

/// `chainkeeper inspect FILE… [--chain]`: reads disk headers locally, no coordinator.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Parse VHDX/AVHDX, VHD/AVHD and qcow2 headers; with --chain, follow each file to its base.",
        discussion: """
            Exit codes: 0 every file parsed (and every chain resolved); 3 a chain is broken, has a \
            missing parent or needs a log replay; 1 a file could not be parsed; 4 a file does not \
            exist. With several files the most severe wins (4, then 1, then 3).

            A chain is followed wherever its parents are, as qemu-img does (a libvirt overlay on \
            one volume backed by a base on another is routine). --root confines the walk: a parent \
            or qcow2 data file outside every --root is not read and is reported as outside-roots \
            (exit 3).
            """
    )

    @Argument(help: "Disk files to read.")
    var files: [String]

    @Flag(help: "Resolve each file's parents down to the base disk.")
    var chain = false

    @Flag(help: "Print one JSON document (an array, one object per file).")
    var json = false

    @Option(name: .customLong("root"), help: "A directory parents may be found in (repeatable).")
    var roots: [String] = []

    @Option(
        name: .customLong("path-map"),
        help: ArgumentHelp(
            "Map a Windows path prefix to a local directory, WINDOWS=LOCAL (repeatable).",
            discussion: #"Example: --path-map 'C:\ClusterStorage\Volume1=/mnt/csv1'"#
        )
    )
    var pathMaps: [String] = []

    func validate() throws {
        for entry in pathMaps where !entry.contains("=") {
            throw ValidationError("--path-map takes WINDOWS=LOCAL, got '\(entry)'")
        }
    }

    func run() throws {
        let pathMap = PathMap(
            pathMaps.compactMap { entry in
                guard let equals = entry.lastIndex(of: "=") else { return nil }
                return PathMap.Entry(
                    windowsPrefix: String(entry[..<equals]),
                    localDirectory: LocalFileSystem.absolutePath(String(entry[entry.index(after: equals)...]))
                )
            }
        )
        let reports = files.map { inspect($0, pathMap: pathMap) }
        if json {
            print(try InspectReport.json(reports))
        } else {
            print(InspectReport.text(reports), terminator: "")
        }
        if reports.contains(where: { $0.outcome == .missing }) { throw ExitCode(4) }
        if reports.contains(where: { $0.outcome == .unreadable }) { throw ExitCode.failure }
        if reports.contains(where: { $0.chainError != nil }) { throw ExitCode(3) }
    }

    private func inspect(_ file: String, pathMap: PathMap) -> InspectReport {
        let path = LocalFileSystem.absolutePath(file)
        var report = InspectReport(path: file)
        let source: FileByteSource
        do {
            guard let opened = try FileByteSource(path: path) else {
                report.outcome = .missing
                report.error = InspectReport.Problem(code: "file-missing", message: "\(file) does not exist")
                return report
            }
            source = opened
        } catch {
            report.outcome = .unreadable
            report.error = InspectReport.Problem(code: error.code.rawValue, message: error.message)
            return report
        }
        let info: DiskImageInfo
        do {
            info = try DiskImageReader.read(source, name: path)
        } catch {
            report.outcome = .unreadable
            report.error = InspectReport.Problem(code: error.code.rawValue, message: error.message)
            return report
        }
        report.info = info
        guard chain else { return report }
        let allowed = roots.map(LocalFileSystem.absolutePath)
        let resolver = ChainResolver(
            fileSystem: LocalFileSystem(),
            allowedRoots: allowed.map { LocalFileSystem.canonicalPath($0) ?? $0 },
            pathMap: pathMap
        )
        let resolved = resolver.resolve(from: ChainLink(path: path, info: info), identity: source.identity)
        report.chain = resolved.links.map { link in
            InspectReport.ChainEntry(path: link.path == path ? file : link.path, identifier: link.info.identifierText)
        }
        report.externalSource = resolved.externalSource
        report.chainError = resolved.error.map { InspectReport.Problem(code: $0.code.rawValue, message: $0.message) }
        return report
    }
}
