import ArgumentParser

/// `chainkeeper-bench`: measured speed, printed as figures for docs/benchmarks.md.
///
/// Benchmarks are programs, not timed tests: they never decide whether CI passes.
@main
struct ChainkeeperBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chainkeeper-bench",
        abstract: "Chainkeeper's benchmarks.",
        subcommands: [
            DiskParseBenchmark.self, IngestBenchmark.self, CheckBenchmark.self, DashboardBenchmark.self,
            SpecBenchmark.self, EtcdBenchmark.self, StorageHeartbeatBenchmark.self, LibvirtScanBenchmark.self,
            ClusterLoadBenchmark.self, FailoverLatencyBenchmark.self, TakeoverLatencyBenchmark.self,
        ]
    )
}
