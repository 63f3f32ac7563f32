import ArgumentParser
import DiskFormatsTesting

#if canImport(Glibc)
import Glibc
#endif

/// `chainkeeper-fuzz`: seeded fuzzing of the disk-format readers (`disks`, the default) and of a coordinator's report
/// route (`reports`).
@main
struct ChainkeeperFuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chainkeeper-fuzz",
        abstract: "Seeded fuzzing: the disk readers (disks), or a running coordinator's agent API (reports).",
        subcommands: [DiskFuzzCommand.self, ReportFuzzCommand.self],
        defaultSubcommand: DiskFuzzCommand.self
    )
}

/// `chainkeeper-fuzz disks`: seeded mutation fuzzing of the VHDX, VHD and qcow2 readers for a time budget.
struct DiskFuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disks",
        abstract: "Fuzz the disk-format readers with seeded mutations; a crash kills the process.",
        discussion: """
            Iteration i of seed s is always the same input, so a crash between two progress lines is \
            replayed with --seed s --start FIRST --count N.
            """
    )

    @Option(help: "Seconds to run (ignored with --count).") var seconds: Int = 60
    @Option(help: "Seed of the run.") var seed: UInt64 = 1
    @Option(help: "First iteration.") var start: Int = 0
    @Option(help: "Run exactly this many iterations.") var count: Int?

    func run() throws {
        keepFreedMemory()
        let fuzzer = DiskFuzzer(seed: seed)
        let clock = ContinuousClock()
        let begin = clock.now
        func nanoseconds() -> Int64 {
            let (s, atto) = (clock.now - begin).components
            return s * 1_000_000_000 + atto / 1_000_000_000
        }
        var outcome = DiskFuzzer.Outcome()
        var next = start
        let deadline = Int64(seconds) * 1_000_000_000
        let batch = 500
        var lastReport: Int64 = 0
        while true {
            let remaining = count.map { start + $0 - next } ?? batch
            if remaining <= 0 { break }
            if count == nil && nanoseconds() >= deadline { break }
            let size = min(batch, remaining)
            fuzzer.run(next..<(next + size), now: nanoseconds, into: &outcome)
            next += size
            if nanoseconds() - lastReport >= 10_000_000_000 {
                lastReport = nanoseconds()
                print("seed \(seed) iterations \(start)..<\(next) \(summary(outcome))")
                fflush(nil)  // a crash must not swallow the last progress line
            }
        }
        let elapsed = Double(nanoseconds()) / 1e9
        print(
            "done: seed \(seed) iterations \(start)..<\(next) in \((elapsed * 10).rounded() / 10) s, "
                + "\(Int(Double(outcome.iterations) / max(elapsed, 0.001)))/s, \(summary(outcome)), no crash"
        )
    }

    private func summary(_ outcome: DiskFuzzer.Outcome) -> String {
        "parsed \(outcome.parsed) malformed \(outcome.malformed) unsupported \(outcome.unsupported) "
            + "io \(outcome.other) slowest \(outcome.slowestNanoseconds / 1000) µs"
    }
}

/// Keeps freed memory in the process, so that each iteration's copy of a multi-MiB sample is not faulted in anew.
///
/// With glibc's defaults, whether that memory goes back to the kernel on every iteration depends on where other
/// allocations happen to sit: the rate swung between about 600 and 5,800 inputs a second from one build to the next.
///
/// `mallopt` is looked up at run time because Swift's Glibc module does not include `<malloc.h>`.
func keepFreedMemory() {
    typealias MallocOption = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(nil, "mallopt") else { return }
    let mallopt = unsafeBitCast(symbol, to: MallocOption.self)
    _ = mallopt(-1, Int32.max)  // M_TRIM_THRESHOLD: never give the top of the heap back
    _ = mallopt(-3, 32 << 20)  // M_MMAP_THRESHOLD at its largest: samples come from the heap, not fresh mappings
}
