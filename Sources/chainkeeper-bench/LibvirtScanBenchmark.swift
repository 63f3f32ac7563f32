import Agent
import ArgumentParser
import ClusterAPI
import ClusterTestSupport
import Crypto
import Foundation

/// What the libvirt hand-off adds to a rescan (issue 23): one node's 1,000 domains with 16 external snapshots each,
/// read from libvirt's XML with each domain's metadata built (secrets stripped, re-serialised), then every digest.
///
/// The report carries only the digests (71 bytes a VM); bodies go once per change. The figures say what a rescan of
/// SPEC §9's largest node costs the agent, and how much metadata a coordinator holds per VM.
struct LibvirtScanBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt-scan",
        abstract: "Time the libvirt inventory read, with hypervisor metadata, of one node's domains."
    )

    @Option(help: "Domains on the node.") var domains = 1_000
    @Option(help: "External snapshots per domain.") var snapshots = 16
    @Option(help: "Reads to time.") var rounds = 5

    func run() throws {
        let root = FileManager.default.temporaryDirectory.path + "/chainkeeper-libvirt-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (domainDir, snapshotDir) = (root + "/qemu", root + "/snapshot")
        let setup = ContinuousClock.now
        for index in 0..<domains {
            let name = "vm\(index)"
            let disk = "/mnt/csv1/\(name)/base.qcow2"
            var chain: [LibvirtFixtures.Snapshot] = []
            var current = disk
            for level in 0..<snapshots {
                let overlay = "/mnt/csv1/\(name)/s\(level).qcow2"
                chain.append(
                    LibvirtFixtures.Snapshot(
                        name: "s\(level)",
                        parent: level == 0 ? nil : "s\(level - 1)",
                        memoryFile: level % 4 == 1 ? "/mnt/csv1/\(name)/s\(level).mem" : nil,
                        overlays: ["vda": overlay],
                        capturedDisks: [.file(current, target: "vda")]
                    )
                )
                current = overlay
            }
            try LibvirtFixtures.write(
                name: name,
                uuid: String(format: "00000000-0000-4000-8000-%012d", index),
                disks: [.file(current, target: "vda")],
                snapshots: chain,
                domains: domainDir,
                snapshotRoot: snapshotDir
            )
        }
        print("setup: \(domains) domains × \(snapshots) snapshots written in \(format(ContinuousClock.now - setup))")
        let source = LibvirtSource(domains: domainDir, snapshots: snapshotDir, stateCommand: nil, live: nil, swtpm: nil)
        var reads: [Duration] = []
        var digests: [Duration] = []
        var bytes = 0
        for _ in 0..<rounds {
            let start = ContinuousClock.now
            let (vms, errors) = try source.read()
            reads.append(ContinuousClock.now - start)
            guard errors.isEmpty, vms.count == domains else {
                throw ValidationError("read \(vms.count) domains with \(errors.count) errors")
            }
            let hashing = ContinuousClock.now
            bytes = 0
            for vm in vms {
                guard let metadata = vm.metadata, let encoded = try? metadata.canonicalEncoding() else { continue }
                bytes += encoded.count
                _ = HypervisorMetadata.digest(of: encoded) { SHA256.hash(data: $0) }
            }
            digests.append(ContinuousClock.now - hashing)
        }
        print("inventory read with metadata, \(domains) domains: p50 \(format(reads.sorted()[reads.count / 2]))")
        print(
            "canonical encoding + SHA-256 of every domain's metadata: p50 \(format(digests.sorted()[digests.count / 2]))"
        )
        print("metadata: \(bytes / max(domains, 1)) bytes a domain on average, \(bytes >> 20) MiB for the node")
        print("in the report: 71 bytes a VM (its digest), \(domains * 71 / 1024) KiB for the node")
    }

    func format(_ duration: Duration) -> String {
        String(
            format: "%.1f ms",
            Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000
        )
    }
}
