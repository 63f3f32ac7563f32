import ChainModel
import GRDB
import Testing

@testable import ClusterStore

/// A VM whose new inventory has the shape of the stored one (`vm.inventory_shape`) has only its changed file values
/// updated in place; whatever the change, the VM reads back as the same inventory written into an empty database.
@Suite struct InventoryInPlaceTests {
    struct Random {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    /// What changed in a VM: nothing, values a file row takes in place, or its shape.
    enum Change: CaseIterable {
        case none, size, problem, identity, checkpointName, filePath, newFile, removedFile

        var inPlace: Bool { [.none, .size, .problem, .identity].contains(self) }
    }

    /// `token` is new at each call, so that a change of shape is never the shape before.
    static func change(_ vm: VM, _ change: Change, token: Int, random: inout Random) -> VM {
        var vm = vm
        let index = random.next(vm.files.count)
        switch change {
        case .none: break
        case .size: vm.files[index].size += Int64(1 + random.next(1 << 20))
        case .problem:
            let problems: [FileProblem?] = [nil, .missing, .chainBroken, .needsLogReplay]
            vm.files[index].problem = problems[random.next(problems.count)]
            vm.files[index].problemDetail = vm.files[index].problem == nil ? nil : "seen at round \(random.next(100))"
        case .identity:
            vm.files[index].identifier = random.next(2) == 0 ? nil : "id-\(random.next(1000))"
            vm.files[index].format = [nil, .vhdx, .vhd, .qcow2][random.next(4)]
        case .checkpointName: vm.checkpoints[random.next(vm.checkpoints.count)].name = "renamed-\(token)"
        case .filePath: vm.files[0].path += ".moved"
        case .removedFile where vm.files.first?.kind == .configuration:
            // The configuration file is in no chain.
            vm.files.removeFirst()
        case .newFile, .removedFile:
            vm.files.append(
                VMFile(
                    location: .volume(TemporaryStore.csv1, relativePath: "\(vm.name)/extra-\(token).vmgs"),
                    path: "/mnt/csv1/\(vm.name)/extra.vmgs",
                    kind: .guestState,
                    size: 4096
                )
            )
        }
        return vm
    }

    /// Records, on the writer's connection, the VM of every file row deleted (a VM rewritten deletes its rows).
    static func watchRewrites(in store: ClusterStore) throws {
        try store.writer.write { db in
            try db.execute(
                sql: """
                    CREATE TEMP TABLE rewritten (vm_id TEXT);
                    CREATE TEMP TRIGGER file_deleted AFTER DELETE ON main.file
                    BEGIN INSERT INTO rewritten VALUES (OLD.vm_id); END;
                    """
            )
        }
    }

    /// The VMs rewritten since the last call.
    static func rewritten(in store: ClusterStore) throws -> Set<String> {
        try store.writer.write { db in
            defer { try? db.execute(sql: "DELETE FROM rewritten") }
            return Set(try String.fetchAll(db, sql: "SELECT vm_id FROM rewritten"))
        }
    }

    static func fileIDs(of vm: VM, in store: ClusterStore) throws -> [Int64] {
        try store.writer.read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM file WHERE vm_id = ? ORDER BY id", arguments: [vm.id.rawValue])
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func aChangedInventoryReadsBackAsTheSameInventoryWrittenAfresh(seed: UInt64) throws {
        var random = Random(state: seed)
        let temporary = try TemporaryStore()
        let store = temporary.store
        var vms = (0..<40).map { TemporaryStore.branchedVM(name: "vm\($0)", id: "vm-\($0)") }
        _ = try store.ingest(ReportStepTests.batch(vms), at: TemporaryStore.now)
        try Self.watchRewrites(in: store)
        for round in 1...6 {
            var changes: [Change] = []
            for index in vms.indices {
                let change = Change.allCases[random.next(Change.allCases.count)]
                changes.append(change)
                vms[index] = Self.change(vms[index], change, token: round * 1000 + index, random: &random)
            }
            let outcome = try store.ingest(ReportStepTests.batch(vms), at: TemporaryStore.now + .seconds(60 * round))
            #expect(outcome.errors == 0)
            let fresh = try TemporaryStore()
            _ = try fresh.store.ingest(ReportStepTests.batch(vms), at: TemporaryStore.now)
            #expect(try store.snapshot().vms == fresh.store.snapshot().vms, "round \(round)")
            let rewritten = try Self.rewritten(in: store)
            for (index, vm) in vms.enumerated() {
                #expect(
                    rewritten.contains(vm.id.rawValue) == !changes[index].inPlace,
                    "\(vm.name), \(changes[index]): \(changes[index].inPlace ? "in place" : "rewritten")"
                )
            }
            #expect(changes.contains(where: \.inPlace) && changes.contains { !$0.inPlace })
        }
    }

    @Test func onlyTheChangedFileRowIsWrittenAndAnUnknownShapeIsRewritten() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        var vm = TemporaryStore.branchedVM()
        _ = try store.ingest(ReportStepTests.batch([vm]), at: TemporaryStore.now)
        try Self.watchRewrites(in: store)
        let ids = try Self.fileIDs(of: vm, in: store)
        vm.files[3].size = 5 << 30
        let changes = try store.writer.write { db -> Int in
            let before = db.totalChangesCount
            let rows = try InventoryRows(of: vm, digest: InventoryDigest.of(vm), reportKey: nil, at: TemporaryStore.now)
            let shape = try String.fetchOne(
                db,
                sql: "SELECT inventory_shape FROM vm WHERE id = ?",
                arguments: [rows.id]
            )
            #expect(shape == rows.shape)
            try ClusterStore.writeInventory(rows, storedShape: shape, in: db)
            return db.totalChangesCount - before
        }
        #expect(changes == 2, "the vm row and one file row")
        #expect(try Self.fileIDs(of: vm, in: store) == ids)
        #expect(try Self.rewritten(in: store).isEmpty)
        #expect(try store.snapshot().vms.first?.files == vm.files)

        // A row written before migration 018 has no shape: the next change rewrites the VM and records one.
        try store.writer.write { db in try db.execute(sql: "UPDATE vm SET inventory_shape = NULL") }
        vm.files[3].size += 1
        _ = try store.ingest(ReportStepTests.batch([vm]), at: TemporaryStore.now + .seconds(60))
        #expect(try Self.rewritten(in: store) == [vm.id.rawValue])
        #expect(try store.snapshot().vms.first?.files == vm.files)
        let shape = try store.writer.read { db in try String.fetchOne(db, sql: "SELECT inventory_shape FROM vm") }
        #expect(shape?.hasPrefix("sha256:") == true && shape?.count == 71)
    }
}
