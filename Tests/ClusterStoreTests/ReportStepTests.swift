import ChainModel
import GRDB
import Synchronization
import Testing

@testable import ClusterStore

/// A report written in steps whose rows are built on another thread (`ClusterStore.prepare`) ahead of the writer.
@Suite struct ReportStepTests {
    static let csv1 = VolumeReport(
        volume: Volume(id: TemporaryStore.csv1, name: "csv1"),
        mountPath: "/mnt/csv1",
        filesystemType: nil,
        probeWritten: nil,
        probeRead: []
    )

    static func batch(_ vms: [VM]) -> ReportBatch {
        ReportBatch(
            node: NodeName("node1"),
            driver: .hypervJSON,
            memoryMiB: 8192,
            volumes: [csv1],
            vms: vms,
            listed: vms.map(\.id),
            inventoryErrors: [],
            discoveredDisks: [],
            probeWindow: .seconds(600)
        )
    }

    /// What the store reads back of `vm`, in the order it reads it (checkpoints by id).
    static func stored(_ vm: VM) -> VM {
        var vm = vm
        vm.checkpoints.sort { $0.id.rawValue < $1.id.rawValue }
        return vm
    }

    @Test func aReportOfSeveralStepsLandsWholeWithEachRefusalAlone() throws {
        let temporary = try TemporaryStore()
        // 450 VMs: three steps, each built while the previous one is written.
        var vms = (0..<450).map { TemporaryStore.branchedVM(name: "vm\($0)", id: "vm-\($0)") }
        // Step 2: a chain naming a file the VM does not list is refused when its rows are built.
        vms[250].chains[0].elements.append(.volume(TemporaryStore.csv1, relativePath: "vm250/elsewhere.vhdx"))
        // Step 3: a file on a volume no node reported is refused by the writer, and the step is written again VM by
        // VM from the same documents.
        vms[420].files[0].location = .volume(VolumeID("unknown"), relativePath: "vm420/config.vmcx")
        let outcome = try temporary.store.ingest(Self.batch(vms), at: TemporaryStore.now)
        #expect(outcome.registered == 448)
        #expect(outcome.errors == 2)
        let snapshot = try temporary.store.snapshot()
        let expected = vms.enumerated().filter { ![250, 420].contains($0.offset) }.map { Self.stored($0.element) }
        let byID = Dictionary(uniqueKeysWithValues: snapshot.vms.map { ($0.id, $0) })
        #expect(byID.count == 448)
        for vm in expected {
            #expect(byID[vm.id]?.checkpoints == vm.checkpoints, "\(vm.name)")
            #expect(byID[vm.id]?.files == vm.files, "\(vm.name)")
            #expect(byID[vm.id]?.chains == vm.chains, "\(vm.name)")
        }
        #expect(Set(snapshot.inventoryErrors.compactMap(\.vm)) == ["vm250", "vm420"])
        let message = snapshot.inventoryErrors.first { $0.vm == "vm250" }?.message ?? ""
        #expect(message.contains("vm250/elsewhere.vhdx"), "\(message)")
        // Nothing of the refused VMs is left: one document and five disk rows for each VM stored.
        let rows = try temporary.store.writer.read { db in
            try Int.fetchAll(db, sql: "SELECT count(*) FROM vm_inventory UNION ALL SELECT count(*) FROM vm_disk")
        }
        #expect(rows == [448, 448 * 5])
        let refused = snapshot.inventoryErrors.first { $0.vm == "vm420" }?.message ?? ""
        #expect(refused.contains("volume unknown"), "\(refused)")
    }

    @Test func aStepBuiltBeforeTheDatabaseChangedIsWrittenFromWhatTheWriterReads() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        let now = TemporaryStore.now
        let first = TemporaryStore.branchedVM(name: "web01", id: "web01-id")
        var second = first
        second.files[1].size += 4096
        second.files.removeLast()
        _ = try store.ingest(Self.batch([first]), at: now)

        // Built while the database held `first`: unchanged, so no document is built for it.
        let batch = Self.batch([first])
        let step = store.prepare(batch.vms[...], of: batch, at: now + .seconds(60))
        #expect(step.entries.count == 1)
        #expect(step.entries[0].document.map { _ in "built" } == nil)

        // Meanwhile another report changes the VM; the step written now finds its digest changed and writes `first`
        // again from a document it builds itself.
        _ = try store.ingest(Self.batch([second]), at: now + .seconds(30))
        #expect(try store.snapshot().vms.first?.files == second.files)
        let (outcome, errors) = try store.writer.write { db in
            try ClusterStore.apply(step, of: batch, at: now + .seconds(60), isolatingVMs: false, in: db)
        }
        #expect(errors.isEmpty)
        #expect(outcome.updated == 1)
        #expect(try store.snapshot().vms.first.map { Self.stored($0) } == Self.stored(first))
    }

    /// Parts handed out in order, as `ReportPipeline` hands out a report's entries while they are decoded.
    final class Parts: ReportPartSource {
        private let items: Mutex<[ReportPart.Next]>
        init(_ items: [ReportPart.Next]) { self.items = Mutex(items) }
        func next() -> ReportPart.Next { items.withLock { $0.isEmpty ? .end : $0.removeFirst() } }
    }

    static func part(_ vms: [VM], errors: [String] = []) -> ReportPart {
        ReportPart(
            vms: vms,
            listed: vms.map(\.id) + errors.map { VMID("\($0)-id") },
            inventoryErrors: errors.map { InventoryError(node: NodeName("node1"), vm: $0, message: "unreadable") },
            reportKeys: Dictionary(uniqueKeysWithValues: vms.map { ($0.id, "key-\($0.id.rawValue)") })
        )
    }

    @Test func partsArrivingWhileTheWriterAppliesLandAsTheWholeBatchWould() throws {
        let vms = (0..<450).map { TemporaryStore.branchedVM(name: "vm\($0)", id: "vm-\($0)") }
        // At once: every VM in the batch, with the parts' listings, errors and report keys.
        let whole = try TemporaryStore()
        var batch = Self.batch(vms)
        batch.listed += [VMID("broken-id")]
        batch.inventoryErrors = [InventoryError(node: NodeName("node1"), vm: "broken", message: "unreadable")]
        batch.reportKeys = Dictionary(uniqueKeysWithValues: vms.map { ($0.id, "key-\($0.id.rawValue)") })
        // Listed by digest as well as sent whole: counts once, as sent whole.
        batch.unchangedEntries = [(VMID("vm-420"), "key-old")]
        let wholeOutcome = try whole.store.ingest(batch, at: TemporaryStore.now)

        // In parts: 50 VMs in the batch, then parts of 200, 0 (an entry that could not be read) and 200.
        let parted = try TemporaryStore()
        var head = Self.batch(Array(vms[..<50]))
        head.reportKeys = Dictionary(uniqueKeysWithValues: vms[..<50].map { ($0.id, "key-\($0.id.rawValue)") })
        head.unchangedEntries = [(VMID("vm-420"), "key-old")]
        let rest = Parts([
            .part(Self.part(Array(vms[50..<250]))), .part(Self.part([], errors: ["broken"])),
            .part(Self.part(Array(vms[250...]))),
        ])
        let partedOutcome = try parted.store.ingest(head, at: TemporaryStore.now, rest: rest)

        #expect(partedOutcome == wholeOutcome)
        #expect(partedOutcome.registered == 450 && partedOutcome.errors == 1 && partedOutcome.unchanged == 0)
        let expected = try whole.store.snapshot()
        let got = try parted.store.snapshot()
        #expect(got.vms.count == 450)
        #expect(got.vms == expected.vms)
        #expect(got.listings == expected.listings)
        #expect(got.listings.count == 450, "listings of known VMs only")
        #expect(got.inventoryErrors == expected.inventoryErrors)
        let keys = try parted.store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT report_key FROM vm ORDER BY rowid")
        }
        #expect(keys == vms.map { "key-\($0.id.rawValue)" })
        #expect(try parted.store.node(named: NodeName("node1"))?.lastInventoryAt == TemporaryStore.now)
    }

    @Test func aReportWhoseRestStopsKeepsTheStepsItAppliedAndWritesNothingAfter() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        let now = TemporaryStore.now
        let vms = (0..<450).map { TemporaryStore.branchedVM(name: "vm\($0)", id: "vm-\($0)") }
        _ = try store.ingest(Self.batch(vms), at: now)

        // The next report changes every VM; its entries stop being readable after the first 250.
        let changed = vms.map { vm in
            var vm = vm
            vm.files[0].size += 1
            return vm
        }
        var head = Self.batch(Array(changed[..<50]))
        head.inventoryErrors = [InventoryError(node: NodeName("node1"), vm: "agent-side", message: "scan failed")]
        let rest = Parts([.part(Self.part(Array(changed[50..<250]), errors: ["broken"])), .stopped("vms[250] is bad")])
        let later = now + .seconds(60)
        #expect(throws: StoreError(.reportIncomplete, "vms[250] is bad")) {
            try store.ingest(head, at: later, rest: rest)
        }
        let snapshot = try store.snapshot()
        let byID = Dictionary(uniqueKeysWithValues: snapshot.vms.map { ($0.id, $0) })
        for (index, vm) in changed.enumerated() {
            let expected = index < 250 ? vm : vms[index]
            #expect(byID[vm.id]?.files == expected.files, "\(vm.name): applied only before the stop")
        }
        // Nothing of the report's end: not its errors, not the node's inventory time (the VMs it did not reach are as
        // stale as before).
        #expect(snapshot.inventoryErrors.isEmpty)
        #expect(try store.node(named: NodeName("node1"))?.lastInventoryAt == now)
        #expect(snapshot.listings.count == 450)
    }
}
