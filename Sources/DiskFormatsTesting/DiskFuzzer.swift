import ChainModel
import DiskFormats

/// Seeded mutation fuzzing of the three readers: each iteration takes a valid sample, applies one to four random
/// mutations and parses the result.
///
/// A crash or trap kills the process; every iteration is reproducible from (seed, iteration), so a failure is replayed
/// with the same numbers.
public struct DiskFuzzer {
    public struct Outcome: Sendable {
        public var iterations = 0
        public var parsed = 0
        public var malformed = 0
        public var unsupported = 0
        public var other = 0
        /// The slowest single parse, in nanoseconds of the clock the caller supplied.
        public var slowestNanoseconds: Int64 = 0

        public init() {}
    }

    public let seed: UInt64
    private let samples: [(name: String, bytes: [UInt8])]

    public init(seed: UInt64) {
        self.seed = seed
        samples = [
            ("base.vhdx", SampleImages.vhdxBase()),
            ("child.avhdx", SampleImages.vhdxChild()),
            ("base.vhd", SampleImages.vhdBase()),
            ("child.avhd", SampleImages.vhdChild()),
            ("top.qcow2", SampleImages.qcow2()),
            ("plain.qcow2", SampleImages.qcow2(backing: nil, version: 2)),
        ]
    }

    /// The mutated input of one iteration.
    public func input(_ iteration: Int) -> (name: String, bytes: [UInt8]) {
        var generator = SplitMix64(seed: seed &+ UInt64(iteration) &* 0x9E37_79B9)
        let sample = samples[Int.random(in: 0..<samples.count, using: &generator)]
        var bytes = sample.bytes
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            bytes = Mutations.mutate(bytes, using: &generator)
        }
        return (sample.name, bytes)
    }

    /// Runs iterations `range`; `now` is the caller's monotonic clock in nanoseconds.
    public func run(_ range: Range<Int>, now: () -> Int64, into outcome: inout Outcome) {
        for iteration in range {
            let (name, bytes) = input(iteration)
            let started = now()
            do {
                _ = try DiskImageReader.read(InMemoryByteSource(bytes), name: name)
                outcome.parsed += 1
            } catch {
                switch error.code {
                case .malformed: outcome.malformed += 1
                case .unsupportedFormat: outcome.unsupported += 1
                case .io: outcome.other += 1
                }
            }
            outcome.slowestNanoseconds = max(outcome.slowestNanoseconds, now() - started)
            outcome.iterations += 1
        }
    }
}
