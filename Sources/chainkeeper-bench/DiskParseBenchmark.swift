import ArgumentParser
import ChainModel
import DiskAccess
import DiskFormats
import DiskFormatsTesting
import Foundation

/// Parses 10,000 disk files (header plus parent locator) in process, and compares with one
/// `vhdiinfo` process per file and one `qemu-img info` process per file it can open.
struct DiskParseBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disk-parse",
        abstract: "Per-file parse time: in process vs vhdiinfo vs qemu-img info."
    )

    @Option(help: "Files to generate and parse (60% VHDX, 30% VHD, 10% qcow2, in chains of 5).")
    var files = 10_000

    @Option(help: "How many files each external tool is run on.")
    var toolSample = 500

    @Option(help: "In-process passes over all files; the median is reported.")
    var passes = 3

    @Option(help: "Parses of each in-memory sample for the from-memory figures.")
    var computeRounds = 2000

    @Option(help: "Work directory (default: a new temporary one, removed afterwards).")
    var work: String?

    func validate() throws {
        guard files >= 1, passes >= 1, computeRounds >= 1, toolSample >= 0 else {
            throw ValidationError("--files, --passes and --compute-rounds must be at least 1, --tool-sample at least 0")
        }
    }

    func run() throws {
        let directory =
            work
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("chainkeeper-bench-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { if work == nil { try? FileManager.default.removeItem(atPath: directory) } }

        print("generating \(files) files in \(directory) …")
        var generated: [(path: String, format: DiskFormat, base: Bool)] = []
        let generation = try ProcessTimer.seconds {
            generated = try generate(in: directory)
        }
        let counts = Dictionary(grouping: generated, by: \.format).mapValues(\.count)
        print(
            "generated \(generated.count) files (vhdx \(counts[.vhdx] ?? 0), vhd \(counts[.vhd] ?? 0), qcow2 \(counts[.qcow2] ?? 0)) in \(String(format: "%.1f", generation)) s"
        )

        // In process: open, read header and parent locator, close. Files are in the page cache, as they are for an
        // agent rescanning its volumes. Each pass parses every file, then replays the very `pread` calls those parses
        // made (recorded once, below) twice without parsing: with raw system calls into one reused buffer, and through
        // `FileByteSource`. Interleaving the three in every pass keeps this VM's drift out of the differences between
        // them: the raw replay is the machine's price for the bytes the formats require to be checked, the second
        // adds our I/O shell, and the parse adds the parsing.
        let targets = generated.map { (path: $0.path, format: $0.format) }
        var recorded: [[(offset: UInt64, count: Int)]] = []
        for file in generated {
            guard let source = try FileByteSource(path: file.path, recordingReads: true) else {
                throw ValidationError("\(file.path) vanished")
            }
            let info = try DiskImageReader.read(source, name: file.path)
            guard info.format == file.format else { throw ValidationError("\(file.path) read as \(info.format)") }
            recorded.append(source.fileReads)
        }
        var parsePasses: [DiskParsePasses.Pass] = []
        var rawPasses: [DiskParsePasses.Pass] = []
        var sourcePasses: [DiskParsePasses.Pass] = []
        for _ in 0..<passes {
            parsePasses.append(
                try DiskParsePasses.timed(targets) { file in
                    guard let source = try FileByteSource(path: file.path) else {
                        throw ValidationError("\(file.path) vanished")
                    }
                    _ = try DiskImageReader.read(source, name: file.path)
                }
            )
            rawPasses.append(try DiskParsePasses.raw(targets, recorded))
            sourcePasses.append(try DiskParsePasses.throughSource(targets, recorded))
        }
        let parse = DiskParsePasses.median(parsePasses)
        let ours = parse.total / Double(generated.count)
        print(
            String(
                format:
                    "in-process parse (open + header + parent locator): %.1f µs/file (median of %d passes over %d files)",
                ours * 1e6,
                passes,
                generated.count
            )
        )
        print(
            String(
                format: "  CPU of that pass: %.1f µs/file in user space, %.1f µs/file in the kernel",
                parse.user / Double(generated.count) * 1e6,
                parse.system / Double(generated.count) * 1e6
            )
        )
        printByFormat(parse, counts)

        // Parsing alone, from memory: what the readers cost without system calls.
        let samples = [
            ("c.avhdx", SampleImages.vhdxChild()), ("c.avhd", SampleImages.vhdChild()),
            ("c.qcow2", SampleImages.qcow2()),
        ]
        for (name, bytes) in samples {
            let source = InMemoryByteSource(bytes)
            let rounds = computeRounds
            let time = try ProcessTimer.seconds {
                for _ in 0..<rounds { _ = try DiskImageReader.read(source, name: name) }
            }
            print(String(format: "  from memory, %@: %.1f µs/parse", name, time / Double(rounds) * 1e6))
        }

        // Bytes read per file, by format (issue 26: a VHDX parse reads at most 128 KiB).
        var bytesByFormat: [DiskFormat: [Int]] = [:]
        for (file, reads) in zip(generated, recorded) {
            bytesByFormat[file.format, default: []].append(reads.map(\.count).reduce(0, +))
        }
        for format in [DiskFormat.vhdx, .vhd, .qcow2] {
            guard let sizes = bytesByFormat[format], !sizes.isEmpty else { continue }
            print(
                String(
                    format: "  bytes read per %@ file: mean %.1f KiB, max %.1f KiB",
                    format.rawValue,
                    Double(sizes.reduce(0, +)) / Double(sizes.count) / 1024,
                    Double(sizes.max() ?? 0) / 1024
                )
            )
        }
        let readsPerFile = Double(recorded.map(\.count).reduce(0, +)) / Double(generated.count)
        let raw = DiskParsePasses.median(rawPasses)
        print(
            String(
                format: "  floor (the same open, fstat, %.1f pread and close calls, no parsing): %.1f µs/file",
                readsPerFile,
                raw.total / Double(generated.count) * 1e6
            )
        )
        printByFormat(raw, counts, indent: "    ")
        let throughSource = DiskParsePasses.median(sourcePasses)
        print(
            String(
                format: "  the same reads through FileByteSource (arrays, page keeping), no parsing: %.1f µs/file",
                throughSource.total / Double(generated.count) * 1e6
            )
        )
        printByFormat(throughSource, counts, indent: "    ")

        if toolSample == 0 {
            print("external tools: skipped (--tool-sample 0)")
        } else if let vhdiinfo = ProcessTimer.locate("vhdiinfo") {
            let sample = spread(generated.filter { $0.format != .qcow2 }, toolSample)
            var failures = 0
            let time = try ProcessTimer.seconds {
                for file in sample where try ProcessTimer.run(vhdiinfo, [file.path]) != 0 { failures += 1 }
            }
            let each = time / Double(sample.count)
            print(
                String(
                    format:
                        "vhdiinfo, one process per file: %.2f ms/file (%d VHDX/VHD files, %d failed) → in-process is %.0f× faster",
                    each * 1e3,
                    sample.count,
                    failures,
                    each / ours
                )
            )
            // The target as issue 27 restated it: within 1.7× of the floor, and at least 50× a vhdiinfo process.
            let floor = raw.total / Double(generated.count)
            let ratio = ours / floor
            let speedup = each / ours
            print(
                "  target: ≤ 1.7× the floor (" + String(format: "%.2f", ratio)
                    + "×: \(ratio <= 1.7 ? "met" : "MISSED"))"
                    + " and ≥ 50× vhdiinfo (" + String(format: "%.0f", speedup)
                    + "×: \(speedup >= 50 ? "met" : "MISSED"))"
            )
        } else {
            print("vhdiinfo: not installed (apt-get install libvhdi-utils)")
        }
        if toolSample == 0 {
            return
        } else if let qemu = ProcessTimer.locate("qemu-img") {
            // qemu-img opens base VHDX/VHD and qcow2; it refuses differencing VHDX (ENOTSUP).
            let openable = generated.filter { $0.format == .qcow2 || $0.base }
            let sample = spread(openable, toolSample)
            var failures = 0
            let time = try ProcessTimer.seconds {
                for file in sample {
                    let format = file.format == .vhd ? "vpc" : file.format.rawValue
                    if try ProcessTimer.run(qemu, ["info", "-U", "--output=json", "-f", format, file.path]) != 0 {
                        failures += 1
                    }
                }
            }
            let each = time / Double(sample.count)
            print(
                String(
                    format:
                        "qemu-img info, one process per file: %.2f ms/file (%d base VHDX/VHD and qcow2 files, %d failed) → in-process is %.0f× faster",
                    each * 1e3,
                    sample.count,
                    failures,
                    each / ours
                )
            )
        } else {
            print("qemu-img: not installed (apt-get install qemu-utils)")
        }
    }

    private func printByFormat(_ pass: DiskParsePasses.Pass, _ counts: [DiskFormat: Int], indent: String = "  ") {
        for format in [DiskFormat.vhdx, .vhd, .qcow2] {
            guard let count = counts[format], count > 0, let time = pass.byFormat[format] else { continue }
            print(String(format: "%@%@: %.1f µs/file", indent, format.rawValue, time / Double(count) * 1e6))
        }
    }

    /// `count` elements spread evenly over `all`.
    private func spread<T>(_ all: [T], _ count: Int) -> [T] {
        guard count > 0 else { return [] }
        guard all.count > count else { return all }
        return (0..<count).map { all[$0 * all.count / count] }
    }

    private func generate(in directory: String) throws -> [(path: String, format: DiskFormat, base: Bool)] {
        var result: [(String, DiskFormat, Bool)] = []
        let vhdxChains = files * 6 / 10 / 5
        let vhdChains = files * 3 / 10 / 5
        let qcowChains = max(0, files / 5 - vhdxChains - vhdChains)
        for index in 0..<vhdxChains {
            let sub = "\(directory)/vhdx\(index)"
            try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
            let chain = try DiskFixtures.vhdxChain(in: sub, names: ["disk.vhdx"] + (1...4).map { "disk_\($0).avhdx" })
            result += chain.enumerated().map { ($0.element.path, .vhdx, $0.offset == 0) }
        }
        for index in 0..<vhdChains {
            let sub = "\(directory)/vhd\(index)"
            try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
            let chain = try DiskFixtures.vhdChain(in: sub, names: ["disk.vhd"] + (1...4).map { "disk_\($0).avhd" })
            result += chain.enumerated().map { ($0.element.path, .vhd, $0.offset == 0) }
        }
        if qcowChains > 0 {
            guard let qemu = ProcessTimer.locate("qemu-img") else {
                throw ValidationError("qcow2 fixtures need qemu-img (apt-get install qemu-utils)")
            }
            for index in 0..<qcowChains {
                let sub = "\(directory)/qcow\(index)"
                try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
                try ProcessTimer.run(qemu, ["create", "-q", "-f", "qcow2", "\(sub)/l0.qcow2", "64M"])
                result.append(("\(sub)/l0.qcow2", .qcow2, true))
                for level in 1...4 {
                    try ProcessTimer.run(
                        qemu,
                        [
                            "create", "-q", "-f", "qcow2", "-b", "l\(level - 1).qcow2", "-F", "qcow2",
                            "\(sub)/l\(level).qcow2",
                        ]
                    )
                    result.append(("\(sub)/l\(level).qcow2", .qcow2, false))
                }
            }
        }
        return result
    }
}
