import DiskFormats
import DiskFormatsTesting
import Testing

/// A short, fixed slice of the fuzzer in every test run; the long runs are `chainkeeper-fuzz` (docs/testing.md).
///
/// Surviving is the assertion: a trap would kill the test process.
@Suite struct FuzzSmokeTests {
    @Test func twoThousandSeededMutationsParseOrFailWithATypedError() {
        var outcome = DiskFuzzer.Outcome()
        var tick: Int64 = 0
        DiskFuzzer(seed: 20_261_125).run(
            0..<2000,
            now: {
                tick += 1; return tick
            },
            into: &outcome
        )
        #expect(outcome.iterations == 2000)
        #expect(outcome.other == 0, "in-memory reads never fail with io")
        #expect(outcome.malformed > 0 && outcome.parsed > 0, "the mutations reach both outcomes")
    }

    @Test func anIterationIsReproducible() {
        let fuzzer = DiskFuzzer(seed: 99)
        #expect(fuzzer.input(1234).bytes == fuzzer.input(1234).bytes)
        #expect(fuzzer.input(1234).bytes != fuzzer.input(1235).bytes)
    }
}
