import ArgumentParser
import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation

/// Ingests one node's report of 1,000 VMs with 16 checkpoints each into a fresh cluster database
/// (the store's own transaction, `synchronous=FULL`), then reads the cluster back and audits it.
struct IngestBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Time ingesting a node report (1,000 VMs × 16 checkpoints) and auditing the result."
    )

    @Option(help: "VMs in the report.") var vms = 1000
    @Option(help: "Checkpoints per VM (each with a disk, a configuration and a memory file).") var checkpoints = 16

    func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "chainkeeper-ingest-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try ClusterStore(path: directory + "/cluster.sqlite")
        let now = Timestamp(secondsSinceEpoch: 1_800_000_000)
        let volume = VolumeID("csv1")
        let batch = ReportBatch(
            node: NodeName("node1"),
            driver: .hypervJSON,
            memoryMiB: 1 << 20,
            volumes: [
                VolumeReport(
                    volume: Volume(id: volume, name: "csv1"),
                    mountPath: "/mnt/csv1",
                    filesystemType: "nfs4",
                    probeWritten: "nonce-bench-1",
                    probeRead: []
                )
            ],
            vms: (0..<vms).map {
                SyntheticVMs.make($0, owner: NodeName("node1"), volume: volume, checkpoints: checkpoints)
            },
            listed: (0..<vms).map { VMID("vm-\($0)") },
            inventoryErrors: [],
            discoveredDisks: [],
            probeWindow: .seconds(600)
        )
        let files = batch.vms.reduce(0) { $0 + $1.files.count }
        var outcome = ReportOutcome()
        let first = try ProcessTimer.seconds { outcome = try store.ingest(batch, at: now) }
        let again = try ProcessTimer.seconds { _ = try store.ingest(batch, at: now + .seconds(60)) }
        var changed = batch
        changed.vms = batch.vms.map { vm in
            var vm = vm
            vm.files[0].size += 1
            return vm
        }
        let grown = try ProcessTimer.seconds { _ = try store.ingest(changed, at: now + .seconds(120)) }
        // Every VM gains a file (each VM's document is rewritten, as for any change).
        var reshaped = changed
        reshaped.vms = changed.vms.map { vm in
            var vm = vm
            vm.files.append(
                VMFile(
                    location: .volume(volume, relativePath: "\(vm.name)/guest.vmgs"),
                    path: "/mnt/csv1/\(vm.name)/guest.vmgs",
                    kind: .guestState,
                    size: 4096
                )
            )
            return vm
        }
        let rewrite = try ProcessTimer.seconds { _ = try store.ingest(reshaped, at: now + .seconds(180)) }
        var snapshot = ClusterSnapshot()
        let read = try ProcessTimer.seconds { snapshot = try store.snapshot() }
        var risks: [Risk] = []
        let audit = ProcessTimer.seconds {
            risks = ClusterAudit.risks(in: ClusterView(snapshot, now: now + .seconds(61)), AuditInput(snapshot))
        }
        print("report: \(vms) VMs, \(vms * checkpoints) checkpoints, \(files) files; registered \(outcome.registered)")
        print(String(format: "ingest, first report (registers every VM): %.3f s", first))
        print(String(format: "ingest, same report again (every VM unchanged): %.3f s", again))
        print(String(format: "ingest, every VM changed (a file's size): %.3f s", grown))
        print(
            String(format: "ingest, every VM changed (a file added): %.3f s", rewrite)
        )
        print(String(format: "read the whole cluster back (snapshot): %.3f s", read))
        print(String(format: "audit of that snapshot: %.3f s (%d risks)", audit, risks.count))
        // The same report as an agent sends it: what the coordinator's report route does before the store.
        let wire = LoadReports.report(from: "node1", owning: batch.vms)
        let body = try JSONEncoder().encode(wire)
        var decoded: AgentReport?
        let decode = try ProcessTimer.seconds { decoded = try JSONDecoder().decode(AgentReport.self, from: body) }
        let validate = try ProcessTimer.seconds { try decoded?.validate() }
        print(
            String(
                format: "the report as JSON (%.1f MiB): decode %.3f s, validate %.3f s",
                Double(body.count) / 1_048_576,
                decode,
                validate
            )
        )
    }
}
