import ClusterAPI
import ClusterTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 24 against the real thing: checkpoints taken, merged and reverted through the owner's agent on real libvirtd
/// and QEMU (TCG), with the data in each branch checked by reading markers written into the guest's disk.
///
/// In `LibvirtHostsEndToEndTests`, whose tests run one at a time: test beds share loopback addresses and VNC ports.
extension LibvirtHostsEndToEndTests {

    /// Writes 512 bytes of `pattern` at `offset` through the running guest's disk (QEMU's own block layer).
    static func mark(
        _ host: LibvirtHost,
        _ domain: String,
        _ pattern: UInt8,
        at offset: Int = 0,
        length: Int = 512
    )
        throws
    {
        let command = "write -P 0x\(String(pattern, radix: 16)) \(offset) \(length)"
        _ = try host.must([
            "qemu-monitor-command", domain, "--hmp",
            "qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend \"\(command)\"",
        ])
    }

    /// Whether `file`, read through its backing chain, holds `pattern` at `offset` (`qemu-io`, sharing the lock).
    static func holds(_ file: String, _ pattern: UInt8, at offset: Int = 0) throws -> Bool {
        let result = try Daemons.runBlocking(
            "/usr/bin/qemu-io",
            ["-r", "-U", "-c", "read -P 0x\(String(pattern, radix: 16)) \(offset) 512", file],
            environment: [:]
        )
        return result.status == 0 && result.out.contains("read 512/512") && !result.out.contains("failed")
    }

    /// The backing file `qemu-img info` names, or nil.
    static func backing(_ file: String) throws -> String? {
        let result = try Daemons.runBlocking(
            "/usr/bin/qemu-img",
            ["info", "-U", "--output=json", file],
            environment: [:]
        )
        let info = try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any]
        return info?["backing-filename"] as? String
    }

    @Test func checkpointsAreTakenMergedAndRevertedThroughTheOwnerAfterTheLocationRule() async throws {
        var bed = try Testbed()
        defer {
            bed.stop()
            if ProcessInfo.processInfo.environment["CHAINKEEPER_KEEP_TESTBED"] == nil { bed.remove() }
        }
        let a = try #require(bed.hosts["a"])
        _ = try bed.domain("ck01", on: "a", in: bed.shared, snapshots: 0)
        _ = try bed.domain("loc01", on: "a", in: bed.local("a"), snapshots: 0)
        // 1 MiB/s: a merge of a few MiB takes seconds, long enough to ask for a migration meanwhile.
        try await bed.start(mergeBandwidth: 1)
        _ = try #require(try await bed.waitForVM("ck01") { $0.hypervisorMetadata?.held == true && $0.owner == "a" })
        _ = try #require(try await bed.waitForVM("loc01") { $0.owner == "a" })
        let shared = bed.shared
        try Self.mark(a, "ck01", 0x41)

        // A disk-only checkpoint on the shared volume: `vm show` has it the moment the command returns.
        let c1 = try await bed.cli(["checkpoint", "create", "ck01", "c1", "--disk-only", "--json"])
        #expect(c1.status == 0, "\(c1.out) \(c1.err)")
        var shown = try await bed.json(["vm", "show", "ck01"], as: VMDetailJSON.self)
        #expect(shown.snapshots.map(\.name) == ["c1"])
        #expect(shown.files.contains { $0.path == shared + "/ck01.c1.qcow2" }, "\(shown.files.map(\.path))")
        try Self.mark(a, "ck01", 0x42)
        // The same name again: refused (exit 3), nothing journaled.
        let again = try await bed.cli(["checkpoint", "create", "ck01", "c1", "--json"])
        #expect(again.status == 3, "\(again.out) \(again.err)")
        let duplicate = try JSONDecoder().decode(CheckpointResponse.self, from: Data(again.out.utf8))
        #expect(duplicate.reasons.map(\.code) == ["checkpoint-exists"] && duplicate.operationId == nil)

        // With memory: the overlay and the memory file beside it.
        let c2 = try await bed.cli(["checkpoint", "create", "ck01", "c2", "--memory", "--json"])
        #expect(c2.status == 0, "\(c2.out) \(c2.err)")
        shown = try await bed.json(["vm", "show", "ck01"], as: VMDetailJSON.self)
        #expect(shown.snapshots.first?.children.map(\.name) == ["c2"])
        let paths = Set(shown.files.map(\.path))
        #expect(paths.isSuperset(of: [shared + "/ck01.c2.qcow2", shared + "/ck01.c2.mem"]), "\(paths)")
        #expect(try a.snapshotTree("ck01").current == "c2")
        #expect(try a.must(["domstate", "ck01"]).contains("running"))
        let list = try await bed.json(["checkpoint", "list", "ck01"], as: CheckpointListJSON.self)
        #expect(list.current == "c2")
        try Self.mark(a, "ck01", 0x43)

        // loc01's disk is on a's local directory: its checkpoint would be too. Refused, nothing created.
        let local = try await bed.cli(["checkpoint", "create", "loc01", "x1", "--json"])
        #expect(local.status == 3, "\(local.out) \(local.err)")
        let refusal = try JSONDecoder().decode(CheckpointResponse.self, from: Data(local.out.utf8))
        #expect(refusal.reasons.map(\.code).contains("checkpoint-location-local"), "\(refusal.reasons)")
        #expect(
            refusal.reasons.first { $0.code == "checkpoint-location-local" }?.path == bed.local("a") + "/loc01.x1.qcow2"
        )
        #expect(refusal.operationId == nil)
        #expect(!FileManager.default.fileExists(atPath: bed.local("a") + "/loc01.x1.qcow2"))
        #expect(try a.snapshotTree("loc01").parents.isEmpty)
        // With a checkpoint volume in its policy, the same checkpoint goes to the shared volume instead.
        let policy = try await bed.cli(["policy", "set", "loc01", "--checkpoint-volume", "shared", "--json"])
        #expect(policy.status == 0, "\(policy.out) \(policy.err)")
        #expect(try JSONDecoder().decode(PolicyJSON.self, from: Data(policy.out.utf8)).checkpointVolume == "shared")
        let placed = try await bed.cli(["checkpoint", "create", "loc01", "x2", "--json"])
        #expect(placed.status == 0, "\(placed.out) \(placed.err)")
        #expect(FileManager.default.fileExists(atPath: shared + "/loc01/loc01.x2.qcow2"))
        #expect(try a.must(["domblklist", "loc01"]).contains(shared + "/loc01/loc01.x2.qcow2"))
        shown = try await bed.json(["vm", "show", "loc01"], as: VMDetailJSON.self)
        #expect(shown.files.contains { $0.path == shared + "/loc01/loc01.x2.qcow2" && $0.volume == "shared" })

        // Delete c2 (the running disk's overlay): an active block commit into c1's overlay and a pivot. 4 MiB to merge
        // at 1 MiB/s: a migration asked for meanwhile is refused, naming the merge.
        try Self.mark(a, "ck01", 0x55, at: 1 << 20, length: 4 << 20)
        let deleting = Task { [bed] in try await bed.cli(["checkpoint", "delete", "ck01", "c2", "--json"]) }
        var applying = false
        for _ in 0..<100 where !applying {
            let history = try await bed.json(["history", "--vm", "ck01"], as: [HistoryEntryJSON].self)
            applying = history.first?.kind == "checkpoint-delete" && history.first?.state == "applying"
            if !applying { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(applying, "the delete never reached applying")
        let during = try await bed.cli(["migrate", "ck01", "--to", "b", "--json"])
        #expect(during.status == 3, "\(during.out) \(during.err)")
        let busy = try JSONDecoder().decode(CheckResponse.self, from: Data(during.out.utf8))
        #expect(busy.reasons.map(\.code) == ["operation-in-progress"], "\(busy.reasons)")
        #expect(busy.reasons.first?.message.contains("merge") == true)
        let deleted = try await deleting.value
        #expect(deleted.status == 0, "\(deleted.out) \(deleted.err)")
        #expect(try a.must(["domstate", "ck01"]).contains("running"), "the domain kept running through the merge")
        #expect(try a.must(["domblklist", "ck01"]).contains(shared + "/ck01.c1.qcow2"))
        #expect(!FileManager.default.fileExists(atPath: shared + "/ck01.c2.qcow2"))
        #expect(!FileManager.default.fileExists(atPath: shared + "/ck01.c2.mem"))
        #expect(try Self.holds(shared + "/ck01.c1.qcow2", 0x43), "the merged file holds the latest data")
        #expect(try Self.holds(shared + "/ck01.c1.qcow2", 0x55, at: 1 << 20))
        shown = try await bed.json(["vm", "show", "ck01"], as: VMDetailJSON.self)
        #expect(shown.snapshots.map(\.name) == ["c1"] && shown.snapshots.first?.children.isEmpty == true)
        #expect(!shown.files.contains { $0.path.hasSuffix("ck01.c2.qcow2") || $0.path.hasSuffix("ck01.c2.mem") })

        // Revert to c1 (disk-only; libvirt itself cannot revert an external snapshot): a new overlay over c1's
        // state, the domain shut off as libvirt's own revert leaves it, c1 current; the state before is kept.
        let reverted = try await bed.cli(["checkpoint", "revert", "ck01", "c1", "--json"])
        #expect(reverted.status == 0, "\(reverted.out) \(reverted.err)")
        let revert = try JSONDecoder().decode(CheckpointResponse.self, from: Data(reverted.out.utf8))
        let branch = try #require(revert.files?.first?.path)
        #expect(branch.hasPrefix(shared + "/ck01.c1.r"))
        #expect(try a.must(["domstate", "ck01"]).contains("shut off"))
        #expect(try a.must(["dumpxml", "--inactive", "ck01"]).contains("<source file='\(branch)'"))
        #expect(try Self.backing(branch) == shared + "/ck01-base.qcow2")
        #expect(try Self.holds(branch, 0x41), "the new branch starts from c1's data")
        #expect(try Self.holds(shared + "/ck01.c1.qcow2", 0x43), "the state before the revert is kept")
        #expect(try a.snapshotTree("ck01").current == "c1")
        shown = try await bed.json(["vm", "show", "ck01"], as: VMDetailJSON.self)
        #expect(shown.files.contains { $0.path == branch })

        // A checkpoint on the new branch, and new data there.
        try a.must(["start", "ck01"])
        _ = try await bed.waitForVM("ck01") { $0.state == "Running" }
        let c3 = try await bed.cli(["checkpoint", "create", "ck01", "c3", "--json"])
        #expect(c3.status == 0, "\(c3.out) \(c3.err)")
        try Self.mark(a, "ck01", 0x44)
        #expect(try a.snapshotTree("ck01").parents == ["c1": "", "c3": "c1"])

        // c1's state backs both branches, and the new one uses it below its running disk: refused, nothing written.
        let sharedDelete = try await bed.cli(["checkpoint", "delete", "ck01", "c1", "--json"])
        #expect(sharedDelete.status == 3, "\(sharedDelete.out) \(sharedDelete.err)")
        let branchPoint = try JSONDecoder().decode(CheckpointResponse.self, from: Data(sharedDelete.out.utf8))
        #expect(branchPoint.reasons.map(\.code) == ["checkpoint-branch-point"], "\(branchPoint.reasons)")
        #expect(try Self.holds(shared + "/ck01.c3.qcow2", 0x44))
        #expect(try Self.holds(shared + "/ck01.c1.qcow2", 0x43))

        // Delete c3 (merged into the branch's overlay), then c1: its data streamed into both branches, each
        // intact and standing alone, the shared base removed.
        let c3Deleted = try await bed.cli(["checkpoint", "delete", "ck01", "c3", "--json"])
        #expect(c3Deleted.status == 0, "\(c3Deleted.out) \(c3Deleted.err)")
        let c1Deleted = try await bed.cli(["checkpoint", "delete", "ck01", "c1", "--json"])
        #expect(c1Deleted.status == 0, "\(c1Deleted.out) \(c1Deleted.err)")
        #expect(try a.must(["domstate", "ck01"]).contains("running"))
        #expect(try a.must(["domblklist", "ck01"]).contains(branch))
        #expect(try Self.holds(branch, 0x44), "the new branch's data")
        #expect(try Self.backing(branch) == nil)
        #expect(try Self.holds(shared + "/ck01.c1.qcow2", 0x43), "the old branch's data")
        #expect(try Self.holds(shared + "/ck01.c1.qcow2", 0x55, at: 1 << 20))
        #expect(try Self.backing(shared + "/ck01.c1.qcow2") == nil)
        #expect(!FileManager.default.fileExists(atPath: shared + "/ck01-base.qcow2"))
        shown = try await bed.json(["vm", "show", "ck01"], as: VMDetailJSON.self)
        #expect(shown.snapshots.isEmpty)
        #expect(shown.risks.isEmpty, "\(shown.risks)")

        // A checkpoint below the running disk's: a block commit into the file under it while the domain runs, the
        // later checkpoint redefined onto the merged file.
        for (name, marker) in [("c4", UInt8(0x46)), ("c5", UInt8(0x47))] {
            let taken = try await bed.cli(["checkpoint", "create", "ck01", name, "--json"])
            #expect(taken.status == 0, "\(taken.out) \(taken.err)")
            try Self.mark(a, "ck01", marker)
        }
        let inner = try await bed.cli(["checkpoint", "delete", "ck01", "c4", "--json"])
        #expect(inner.status == 0, "\(inner.out) \(inner.err)")
        #expect(!FileManager.default.fileExists(atPath: shared + "/ck01.c4.qcow2"))
        #expect(
            try a.must(["domblklist", "ck01"]).contains(shared + "/ck01.c5.qcow2"),
            "the running disk is unchanged"
        )
        #expect(try Self.backing(shared + "/ck01.c5.qcow2") == branch)
        #expect(try Self.holds(branch, 0x46), "c4's data merged into the file below it")
        #expect(try Self.holds(shared + "/ck01.c5.qcow2", 0x47))
        #expect(try a.must(["snapshot-dumpxml", "ck01", "c5"]).contains("<source file='\(branch)'"))
        #expect(try a.snapshotTree("ck01").parents == ["c5": ""])

        let history = try await bed.json(["history", "--vm", "ck01"], as: [HistoryEntryJSON].self)
        let create = try #require(history.last { $0.kind == "checkpoint-create" })
        #expect(create.steps.map(\.state) == ["planned", "preflight", "applying", "applied", "committed"])
        #expect(create.source == "a" && create.target == "a")
        #expect(Set(history.map(\.kind)) == ["checkpoint-create", "checkpoint-delete", "checkpoint-revert"])
        let migrated = try await bed.cli(["migrate", "ck01", "--to", "b", "--json"])
        #expect(migrated.status == 0, "after all that, ck01 still moves: \(migrated.out) \(migrated.err)")
    }

    /// Every checkpoint name in a `vm show` tree.
    static func names(_ tree: [VMDetailJSON.Snapshot]) -> Set<String> {
        tree.reduce(into: Set<String>()) {
            $0.insert($1.name); $0.formUnion(names($1.children))
        }
    }

    /// Waits until the VM's newest journal entry is finished; returns it.
    static func settled(_ bed: Testbed, _ vm: String) async throws -> HistoryEntryJSON? {
        var last: HistoryEntryJSON?
        for _ in 0..<300 {
            last = try? await bed.json(["history", "--vm", vm], as: [HistoryEntryJSON].self).first
            if let state = last?.state, state == "committed" || state == "aborted" { return last }
            try await Task.sleep(for: .milliseconds(200))
        }
        return last
    }

    /// Whether the coordinator's catalog names exactly the snapshots libvirt has (polled: a report may be on its way).
    static func consistent(_ bed: Testbed, _ host: LibvirtHost, _ vm: String) async throws -> (Set<String>, Set<String>)
    {
        var catalog = Set<String>()
        var libvirt = Set<String>()
        for _ in 0..<50 {
            libvirt = Set(try host.snapshotTree(vm).parents.keys)
            catalog = names((try? await bed.json(["vm", "show", vm], as: VMDetailJSON.self))?.snapshots ?? [])
            if catalog == libvirt { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        return (catalog, libvirt)
    }

    @Test func aCrashOfTheCoordinatorOrTheAgentAtAnyStepLeavesTheCatalogAndLibvirtAgreeing() async throws {
        var bed = try Testbed()
        defer {
            bed.stop()
            if ProcessInfo.processInfo.environment["CHAINKEEPER_KEEP_TESTBED"] == nil { bed.remove() }
        }
        let a = try #require(bed.hosts["a"])
        _ = try bed.domain("cr01", on: "a", in: bed.shared, snapshots: 0)
        try await bed.start(commandTimeout: "5s")
        _ = try #require(try await bed.waitForVM("cr01") { $0.hypervisorMetadata?.held == true && $0.owner == "a" })
        // Not HA: an agent killed here must not have its watchdog fence the domain under test.
        let policy = try await bed.cli(["policy", "set", "cr01", "--ha", "false"])
        #expect(policy.status == 0, "\(policy.err)")

        func restartCoordinator(crashAfter: String?) async throws {
            _ = bed.coordinator?.stop(SIGKILL)
            try bed.startCoordinator(
                commandTimeout: "5s",
                environment: crashAfter.map { ["CHAINKEEPERD_CRASH_AFTER": $0] } ?? [:]
            )
            for _ in 0..<100 where Daemons.httpGet(port: bed.port, path: "/healthz") != "ok\n" {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .seconds(1))
        }

        // The coordinator killed right after journaling each step of a create, then of a delete: before `applying`
        // the operation is aborted and libvirt untouched; from `applying` on it is finished after the restart.
        var expected = Set<String>()
        for (index, state) in ["planned", "preflight", "applying", "applied"].enumerated() {
            try await restartCoordinator(crashAfter: state)
            let name = "k\(index)"
            let run = try await bed.cli(["checkpoint", "create", "cr01", name])
            #expect(run.status != 0, "the coordinator died at \(state)")
            try await restartCoordinator(crashAfter: nil)
            let entry = try await Self.settled(bed, "cr01")
            let done = state == "applying" || state == "applied"
            #expect(
                entry?.state == (done ? "committed" : "aborted"),
                "create, crash after \(state): \(entry?.steps ?? [])"
            )
            if done { expected.insert(name) }
            let (catalog, libvirt) = try await Self.consistent(bed, a, "cr01")
            #expect(catalog == expected && libvirt == expected, "create, crash after \(state): \(catalog) \(libvirt)")
        }
        for (state, name) in [("planned", "k3"), ("preflight", "k3"), ("applying", "k3"), ("applied", "k2")] {
            try await restartCoordinator(crashAfter: state)
            let run = try await bed.cli(["checkpoint", "delete", "cr01", name])
            #expect(run.status != 0, "the coordinator died at \(state)")
            try await restartCoordinator(crashAfter: nil)
            let entry = try await Self.settled(bed, "cr01")
            let done = state == "applying" || state == "applied"
            #expect(
                entry?.state == (done ? "committed" : "aborted"),
                "delete, crash after \(state): \(entry?.steps ?? [])"
            )
            if done { expected.remove(name) }
            let (catalog, libvirt) = try await Self.consistent(bed, a, "cr01")
            #expect(catalog == expected && libvirt == expected, "delete, crash after \(state): \(catalog) \(libvirt)")
            #expect(
                FileManager.default.fileExists(atPath: bed.shared + "/cr01.\(name).qcow2") != done,
                "delete, crash after \(state): the overlay is merged and removed exactly when the delete committed"
            )
        }
        #expect(expected.isEmpty)
        #expect(try a.must(["domstate", "cr01"]).contains("running"))

        // The agent killed at each of its steps, and restarted: the coordinator sends the apply again and the agent
        // finishes what it started (a merge goes on in QEMU meanwhile).
        let steps: [(action: [String], point: String, name: String, present: Bool)] = [
            (["create", "cr01", "m1"], "checkpoint-apply", "m1", true),
            (["create", "cr01", "m2"], "checkpoint-applied", "m2", true),
            (["delete", "cr01", "m2"], "checkpoint-merge", "m2", false),
            (["delete", "cr01", "m1"], "checkpoint-apply", "m1", false),
        ]
        for step in steps {
            _ = bed.agents["a"]?.stop(SIGKILL)
            try bed.startAgent("a", environment: ["CHAINKEEPER_AGENT_CRASH_AT": step.point])
            try await Task.sleep(for: .seconds(2))
            let running = Task { [bed] in try await bed.cli(["checkpoint"] + step.action) }
            let agent = try #require(bed.agents["a"])
            for _ in 0..<200 where agent.process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
            #expect(!agent.process.isRunning, "the agent reached \(step.point)")
            try bed.startAgent("a")
            let run = try await running.value
            #expect(run.status == 0, "\(step.action) with the agent killed at \(step.point): \(run.out) \(run.err)")
            if step.present { expected.insert(step.name) } else { expected.remove(step.name) }
            let (catalog, libvirt) = try await Self.consistent(bed, a, "cr01")
            #expect(
                catalog == expected && libvirt == expected,
                "\(step.action) at \(step.point): \(catalog) \(libvirt)"
            )
        }
        #expect(try a.must(["domstate", "cr01"]).contains("running"))
        #expect(try a.must(["domblklist", "cr01"]).contains(bed.shared + "/cr01-base.qcow2"))
    }
}
