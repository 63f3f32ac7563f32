import Agent
import ClusterAPI
import Foundation
import Testing

@testable import AgentService

/// The PowerShell exporter (deploy/hyperv) cannot run on Linux; its contract is tested here instead: its example
/// output is read by the agent's own reader, and every key the script writes is a SPEC §4 key that the example shows.
@Suite struct HyperVExporterContractTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/hyperv")
    /// SPEC §4's keys, plus `exportedBy` (unknown keys are ignored by the agent; this one says who wrote the file).
    static let specKeys: Set<String> = [
        "version", "exportedBy", "vms", "id", "name", "state", "highlyAvailable", "memoryMiB", "configurationPath",
        "runtimeStatePath", "guestStatePath", "disks", "snapshots", "parentId", "created", "memoryPath",
        "savedStatePath", "type", "checkpointFileLocation", "smartPagingFilePath", "currentSnapshotId", "dvdDrives",
        "mergePending",
    ]

    @Test func theExampleExportIsReadByTheAgentAsWritten() throws {
        let data = try Data(contentsOf: Self.deploy.appendingPathComponent("example-export.json"))
        let (vms, errors) = try HyperVInventory.parse(data)
        #expect(errors.isEmpty)
        let vm = try #require(vms.first)
        #expect(vms.count == 1)
        #expect(vm.name == "web01" && vm.state == "Running" && vm.highlyAvailable && vm.memoryMiB == 4096)
        #expect(vm.configurationPath?.hasSuffix(".vmcx") == true)
        #expect(vm.runtimeStatePath?.hasSuffix(".vmrs") == true && vm.guestStatePath?.hasSuffix(".vmgs") == true)
        #expect(vm.disks.count == 1 && vm.disks[0].hasPrefix("/mnt/csv1/"))
        #expect(vm.snapshots.map(\.name) == ["before-upgrade", "after-upgrade"])
        #expect(vm.snapshots[1].parentId == vm.snapshots[0].id)
        #expect(vm.snapshots[0].created == 1_795_168_800_000)
        #expect(vm.snapshots[0].memoryPath != nil && vm.snapshots[1].memoryPath == nil)
        // Version 2 (issue 24).
        #expect(vm.checkpointFileLocation == "/mnt/csv1/web01" && vm.smartPagingFilePath == "/mnt/csv1/web01")
        #expect(vm.currentSnapshotId == vm.snapshots[1].id)
        #expect(vm.dvdDrives == ["/mnt/csv1/iso/virtio-win.iso"] && vm.mergePending == false)
        #expect(vm.snapshots.map(\.type) == ["standard", "production"])
        let paths =
            [vm.configurationPath, vm.runtimeStatePath, vm.guestStatePath].compactMap { $0 } + vm.disks
            + vm.snapshots.flatMap { $0.disks + [$0.configurationPath, $0.memoryPath].compactMap { $0 } }
            + (vm.dvdDrives ?? []) + [vm.checkpointFileLocation, vm.smartPagingFilePath].compactMap { $0 }
        #expect(paths.allSatisfy { $0.hasPrefix("/") && !$0.contains("\\") }, "paths as the agent sees them")
    }

    @Test func theScriptWritesOnlySpecKeysAndTheExampleShowsThemAll() throws {
        let script = try String(
            contentsOf: Self.deploy.appendingPathComponent("Export-ChainkeeperInventory.ps1"),
            encoding: .utf8
        )
        // Keys of the script's [ordered]@{ … } literals: `name = value` at the start of a line, or `key = …;` inline.
        var written = Set<String>()
        for line in script.split(separator: "\n") {
            if let match = line.firstMatch(of: /^\s+([a-zA-Z]+)\s+=\s/) { written.insert(String(match.output.1)) }
            for match in line.matches(of: /[@{;]\s*([a-zA-Z]+)\s*=\s/) { written.insert(String(match.output.1)) }
        }
        #expect(written.isSuperset(of: Self.specKeys), "missing from the script: \(Self.specKeys.subtracting(written))")
        #expect(written.isSubset(of: Self.specKeys), "not SPEC §4 keys: \(written.subtracting(Self.specKeys))")

        let example = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.deploy.appendingPathComponent("example-export.json"))
        )
        var shown = Set<String>()
        func collect(_ value: Any) {
            if let object = value as? [String: Any] {
                shown.formUnion(object.keys)
                object.values.forEach(collect)
            } else if let array = value as? [Any] {
                array.forEach(collect)
            }
        }
        collect(example)
        #expect(
            shown == Self.specKeys,
            "the example and the script disagree: \(shown.symmetricDifference(Self.specKeys))"
        )
    }

    /// The `checkpoint` hook (issue 24): every environment variable and plan field the PowerShell hook reads is one
    /// the agent provides, and the plan the agent writes decodes with the fields the script expects.
    @Test func theCheckpointHookReadsOnlyWhatTheAgentPasses() throws {
        let script = try String(
            contentsOf: Self.deploy.appendingPathComponent("Invoke-ChainkeeperCheckpoint.ps1"),
            encoding: .utf8
        )
        let command = AgentCommand(
            id: "c1",
            kind: .apply,
            migrationId: "3f0daf1d-f5e8-40a1-a619-5552c8c0b2de",
            vmId: "8d3c6f0e-5a43-4e0b-9b0e-2f6f3a1c9a10",
            vmName: "web01",
            epoch: 7,
            source: "hv1",
            target: "hv1"
        )
        let order = CheckpointOrder(
            action: .create,
            checkpoint: "before-upgrade",
            memory: true,
            files: [
                CheckpointOrder.File(kind: "overlay", path: "/mnt/csv1/web01/x.avhdx", covers: "/mnt/csv1/web01/w.vhdx")
            ]
        )
        let environment = CheckpointHook.environment(command, order, planPath: "/var/lib/chainkeeper/plans/p.json")
        #expect(environment["CHAINKEEPER_TARGET_VOLUME"] == "/mnt/csv1/web01")
        #expect(environment["CHAINKEEPER_OPERATION"] == "checkpoint-create")
        let read = Set(script.matches(of: /\$env:(CHAINKEEPER_[A-Z_]+)/).map { String($0.output.1) })
        #expect(!read.isEmpty)
        #expect(read.isSubset(of: Set(environment.keys)), "not passed: \(read.subtracting(environment.keys))")

        let plan = try JSONEncoder().encode(CheckpointHook.plan(command, order))
        let fields = Set((try JSONSerialization.jsonObject(with: plan) as? [String: Any] ?? [:]).keys)
        let used = Set(script.matches(of: /\$plan\.([a-zA-Z]+)/).map { String($0.output.1) })
        #expect(used == ["vmId", "vmName", "checkpoint", "action", "memory", "description", "children"], "\(used)")
        #expect(used.isSubset(of: fields), "not in the plan: \(used.subtracting(fields))")
        #expect(try JSONDecoder().decode(CheckpointHook.Plan.self, from: plan) == CheckpointHook.plan(command, order))
    }

    /// The `repair` hook (issue 25): what it reads is what the agent passes, and the agent runs it (not `checkpoint`)
    /// for a repair, with the VM's folder on the target volume.
    @Test func theRepairHookReadsOnlyWhatTheAgentPasses() throws {
        let script = try String(
            contentsOf: Self.deploy.appendingPathComponent("Invoke-ChainkeeperRepair.ps1"),
            encoding: .utf8
        )
        let command = AgentCommand(
            id: "c2",
            kind: .apply,
            migrationId: "4a1daf1d-f5e8-40a1-a619-5552c8c0b2de",
            vmId: "8d3c6f0e-5a43-4e0b-9b0e-2f6f3a1c9a10",
            vmName: "web01",
            epoch: 8,
            source: "hv1",
            target: "hv1"
        )
        let order = CheckpointOrder(
            action: .repair,
            checkpoint: "volume-csv1",
            moves: [
                CheckpointOrder.Move(
                    from: "/var/lib/local/web01.avhdx",
                    to: "/mnt/csv1/web01/web01.avhdx",
                    kind: "disk",
                    size: 4096
                )
            ],
            keepOld: true
        )
        #expect(AgentService.hookName(order) == "repair")
        let environment = CheckpointHook.environment(command, order, planPath: "/var/lib/chainkeeper/plans/r.json")
        #expect(environment["CHAINKEEPER_TARGET_VOLUME"] == "/mnt/csv1/web01")
        #expect(environment["CHAINKEEPER_OPERATION"] == "repair")
        let read = Set(script.matches(of: /\$env:(CHAINKEEPER_[A-Z_]+)/).map { String($0.output.1) })
        #expect(
            read == ["CHAINKEEPER_OPERATION", "CHAINKEEPER_PLAN", "CHAINKEEPER_VM_ID", "CHAINKEEPER_TARGET_VOLUME"]
        )
        #expect(read.isSubset(of: Set(environment.keys)), "not passed: \(read.subtracting(environment.keys))")

        let plan = try JSONEncoder().encode(CheckpointHook.plan(command, order))
        let fields = Set((try JSONSerialization.jsonObject(with: plan) as? [String: Any] ?? [:]).keys)
        let used = Set(script.matches(of: /\$plan\.([a-zA-Z]+)/).map { String($0.output.1) })
        #expect(used == ["vmId", "vmName", "action", "moves", "keepOld"], "\(used)")
        #expect(used.isSubset(of: fields), "not in the plan: \(used.subtracting(fields))")
        // Each move's fields the script reads.
        let moveFields = Set(script.matches(of: /\$_\.([a-zA-Z]+)/).map { String($0.output.1) })
        #expect(moveFields == ["from", "to"], "\(moveFields)")
        let decoded = try JSONDecoder().decode(CheckpointHook.Plan.self, from: plan)
        #expect(decoded.moves.map(\.from) == ["/var/lib/local/web01.avhdx"] && decoded.keepOld)
    }
}
