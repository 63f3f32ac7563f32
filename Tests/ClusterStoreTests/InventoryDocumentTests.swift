import ChainModel
import Foundation
import GRDB
import Testing

@testable import ClusterStore

/// A VM's inventory is one JSON document (`vm_inventory`, migration 019) plus its disks on volumes (`vm_disk`): what
/// is written reads back as what was reported, whatever changed; disk rows are rewritten only when a disk's place
/// changed; hostile strings survive the hand-written JSON; a document that does not read never stops a read; and a
/// database of the release before keeps every checkpoint, file and chain through the migration.
@Suite struct InventoryDocumentTests {
    struct Random {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    /// What changed in a VM.
    enum Change: CaseIterable {
        case none, size, problem, identity, checkpointName, filePath, newFile, removedFile, newDisk

        /// Whether the VM's `vm_disk` rows change.
        var movesDisks: Bool { self == .newDisk }
    }

    /// `token` is new at each call, so that a change is never the state before.
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
        case .newDisk:
            vm.files.append(
                VMFile(
                    location: .volume(TemporaryStore.csv1, relativePath: "\(vm.name)/data-\(token).vhdx"),
                    path: "/mnt/csv1/\(vm.name)/data-\(token).vhdx",
                    kind: .disk,
                    format: .vhdx,
                    size: 1 << 30
                )
            )
        }
        return vm
    }

    /// Records, on the writer's connection, the VM of every `vm_disk` row deleted (rewritten disks are deleted first).
    static func watchDiskRewrites(in store: ClusterStore) throws {
        try store.writer.write { db in
            try db.execute(
                sql: """
                    CREATE TEMP TABLE rewritten (vm_id TEXT);
                    CREATE TEMP TRIGGER disk_deleted AFTER DELETE ON main.vm_disk
                    BEGIN INSERT INTO rewritten VALUES (OLD.vm_id); END;
                    """
            )
        }
    }

    /// The VMs whose disks were rewritten since the last call.
    static func rewritten(in store: ClusterStore) throws -> Set<String> {
        try store.writer.write { db in
            defer { try? db.execute(sql: "DELETE FROM rewritten") }
            return Set(try String.fetchAll(db, sql: "SELECT vm_id FROM rewritten"))
        }
    }

    static func disks(in store: ClusterStore) throws -> [String] {
        try store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT vm_id || ' ' || relative_path FROM vm_disk ORDER BY 1")
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func aChangedInventoryReadsBackAsTheSameInventoryWrittenAfresh(seed: UInt64) throws {
        var random = Random(state: seed)
        let temporary = try TemporaryStore()
        let store = temporary.store
        var vms = (0..<40).map { TemporaryStore.branchedVM(name: "vm\($0)", id: "vm-\($0)") }
        _ = try store.ingest(ReportStepTests.batch(vms), at: TemporaryStore.now)
        try Self.watchDiskRewrites(in: store)
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
            #expect(try Self.disks(in: store) == Self.disks(in: fresh.store), "round \(round)")
            let rewritten = try Self.rewritten(in: store)
            for (index, vm) in vms.enumerated() {
                #expect(
                    rewritten.contains(vm.id.rawValue) == changes[index].movesDisks,
                    "\(vm.name), \(changes[index])"
                )
            }
            #expect(changes.contains(where: \.movesDisks) && changes.contains { !$0.movesDisks })
        }
    }

    @Test func aReportThatMovesNoDiskWritesTheVMRowAndItsDocumentOnly() throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        var vm = TemporaryStore.branchedVM()
        _ = try store.ingest(ReportStepTests.batch([vm]), at: TemporaryStore.now)
        #expect(try Self.disks(in: store).count == 5, "the five disks of the VM, each once")
        vm.files[3].size = 5 << 30
        let changes = try store.writer.write { db -> Int in
            let before = db.totalChangesCount
            let document = try InventoryDocument(
                of: vm,
                digest: InventoryDigest.of(vm),
                reportKey: nil,
                at: TemporaryStore.now
            )
            let stored = try String.fetchOne(
                db,
                sql: "SELECT disks_digest FROM vm WHERE id = ?",
                arguments: [document.id]
            )
            #expect(stored == document.disksDigest)
            try ClusterStore.writeInventory(document, storedDisksDigest: stored, in: db)
            return db.totalChangesCount - before
        }
        #expect(changes == 2, "the vm row and its document")
        #expect(try store.snapshot().vms.first?.files == vm.files)

        // A VM converted by migration 019 has no digest: its next change rewrites its disks and records one.
        try store.writer.write { db in try db.execute(sql: "UPDATE vm SET disks_digest = NULL") }
        try Self.watchDiskRewrites(in: store)
        vm.files[3].size += 1
        _ = try store.ingest(ReportStepTests.batch([vm]), at: TemporaryStore.now + .seconds(60))
        #expect(try Self.rewritten(in: store) == [vm.id.rawValue])
        #expect(try Self.disks(in: store).count == 5)
        let digest = try store.writer.read { db in try String.fetchOne(db, sql: "SELECT disks_digest FROM vm") }
        #expect(digest?.hasPrefix("sha256:") == true && digest?.count == 71)
    }

    /// Every control character but NUL (a C string ends there: `query` reads text as one), quotes, backslashes, and multi-byte UTF-8 in every string a document holds.
    static let hostile: String = {
        var text = (1..<0x20).map { String(UnicodeScalar(UInt8($0))) }.joined()
        text += #""\\/"\#u{7f}ünïcødé ✓ 🐧 \#u{2028}\#u{fffd}\u0041 '); DROP TABLE vm;--"#
        return text
    }()

    @Test func hostileStringsReadBackExactlyThroughTheDocumentAndTheQueryViews() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        var vm = TemporaryStore.branchedVM(name: "web01")
        vm.checkpoints[0].name = Self.hostile
        vm.files[0].path = "/mnt/csv1/" + Self.hostile
        vm.files[0].problem = .missing
        vm.files[0].problemDetail = Self.hostile
        vm.files[1].identifier = Self.hostile
        vm.files.append(
            VMFile(
                location: .nodeLocal(NodeName("node1"), absolutePath: "/var/lib/" + Self.hostile),
                path: "/var/lib/" + Self.hostile,
                kind: .memory,
                size: ValueBounds.bytes
            )
        )
        try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)
        let loaded = try #require(try temporary.store.vm(id: vm.id))
        #expect(Set(loaded.checkpoints) == Set(vm.checkpoints))
        #expect(loaded.files == vm.files)
        #expect(loaded.chains == vm.chains)

        // SQLite's own JSON reader (the views) sees the same strings.
        let names = try temporary.store.query("SELECT name FROM checkpoints ORDER BY id")
        #expect(names.rows.first == [.text(Self.hostile)])
        let files = try temporary.store.query(
            "SELECT path, problem_detail, local_node, size FROM files WHERE path LIKE '%DROP TABLE%' ORDER BY kind"
        )
        #expect(
            files.rows == [
                [.text("/mnt/csv1/" + Self.hostile), .text(Self.hostile), .null, .integer(1 << 20)],
                [.text("/var/lib/" + Self.hostile), .null, .text("node1"), .integer(ValueBounds.bytes)],
            ]
        )
    }

    @Test func theQueryViewsKeepTheirColumnsAndFollowChains() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let vm = TemporaryStore.branchedVM()
        try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)
        let counts = try temporary.store.query("SELECT name, checkpoints, files FROM vms")
        #expect(counts.rows == [[.text("web01"), .integer(4), .integer(Int64(vm.files.count))]])
        let parents = try temporary.store.query(
            "SELECT relative_path, parent_path, volume_name, checkpoint_id FROM files WHERE kind = 'disk' ORDER BY 1"
        )
        #expect(
            parents.rows == [
                [.text("web01/disk.avhdx"), .text("/mnt/csv1/web01/disk_patched.avhdx"), .text("csv1"), .null],
                [.text("web01/disk.vhdx"), .null, .text("csv1"), .text("cp-base")],
                [
                    .text("web01/disk_patched.avhdx"), .text("/mnt/csv1/web01/disk_upgrade.avhdx"), .text("csv1"),
                    .text("cp-patched"),
                ],
                [
                    .text("web01/disk_reverted.avhdx"), .text("/mnt/csv1/web01/disk.vhdx"), .text("csv1"),
                    .text("cp-reverted"),
                ],
                [
                    .text("web01/disk_upgrade.avhdx"), .text("/mnt/csv1/web01/disk.vhdx"), .text("csv1"),
                    .text("cp-upgrade"),
                ],
            ]
        )
        let checkpoints = try temporary.store.query("SELECT id, parent_id, created_at FROM checkpoints ORDER BY id")
        #expect(checkpoints.rows.first == [.text("cp-base"), .null, .text("2023-11-14T22:13:20Z")])
        #expect(checkpoints.rows.count == 4)
    }

    @Test func aDocumentThatDoesNotReadLeavesItsVMWithoutInventoryAndStopsNoRead() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let broken = TemporaryStore.branchedVM(name: "broken", id: "broken-id")
        let whole = TemporaryStore.branchedVM(name: "whole", id: "whole-id")
        try temporary.store.saveInventory(of: broken, at: TemporaryStore.now)
        try temporary.store.saveInventory(of: whole, at: TemporaryStore.now)
        for body in [#"{"files": 1}"#, #"{"checkpoints": [], "files": [[null, null, null]], "chains": []}"#] {
            try temporary.store.writer.write { db in
                try db.execute(sql: "UPDATE vm_inventory SET body = ? WHERE vm_id = 'broken-id'", arguments: [body])
            }
            let vms = try temporary.store.snapshot().vms
            #expect(vms.map(\.name) == ["broken", "whole"])
            #expect(vms[0].files.isEmpty && vms[0].checkpoints.isEmpty && vms[0].chains.isEmpty)
            #expect(vms[1].files == whole.files)
        }
        // What is not JSON at all is refused by the database.
        #expect(throws: DatabaseError.self) {
            try temporary.store.writer.write { db in
                try db.execute(sql: "UPDATE vm_inventory SET body = 'not json' WHERE vm_id = 'whole-id'")
            }
        }
    }

    @Test func aFileOrChainNamingWhatTheClusterDoesNotHaveOrABadSizeIsRefused() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        var cases: [VM] = []
        var vm = TemporaryStore.branchedVM()
        vm.files[0].checkpoint = CheckpointID("cp-gone")
        cases.append(vm)
        vm = TemporaryStore.branchedVM()
        vm.chains[0].checkpoint = CheckpointID("cp-gone")
        cases.append(vm)
        vm = TemporaryStore.branchedVM()
        vm.files[0].size = -1
        cases.append(vm)
        vm = TemporaryStore.branchedVM()
        vm.files[0].size = ValueBounds.bytes + 1
        cases.append(vm)
        for vm in cases {
            let error = #expect(throws: StoreError.self) {
                try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)
            }
            #expect(error?.code == .invalidInventory)
        }
        // A file on a volume or a node the cluster does not know, as the file rows' foreign keys refused it.
        for location in [
            FileLocation.volume(VolumeID("no-such-volume"), relativePath: "x.vmrs"),
            .nodeLocal(NodeName("node9"), absolutePath: "/srv/x.vmrs"),
        ] {
            var stranger = TemporaryStore.branchedVM()
            stranger.files.append(VMFile(location: location, path: "/srv/x.vmrs", kind: .memory))
            let error = #expect(throws: StoreError.self) {
                try temporary.store.saveInventory(of: stranger, at: TemporaryStore.now)
            }
            #expect(error?.code == .danglingReference)
        }
        #expect(try temporary.store.snapshot().vms.isEmpty)
    }

    /// Rows as the release before migration 019 wrote them: checkpoints, files, chains and chain links.
    static func writeRowsOfTheReleaseBefore(_ vm: VM, in db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO vm (id, name, owner, epoch, state, highly_available, memory_mib, registered_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, 1)
                """,
            arguments: [
                vm.id.rawValue, vm.name, vm.owner.rawValue, vm.ownership.epoch.rawValue, vm.state.rawValue,
                vm.highlyAvailable, vm.memoryMiB,
            ]
        )
        for checkpoint in try CheckpointTree(vm.checkpoints).depthFirst().map(\.checkpoint) {
            try db.execute(
                sql: "INSERT INTO checkpoint (vm_id, id, name, parent_id, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    vm.id.rawValue, checkpoint.id.rawValue, checkpoint.name, checkpoint.parent?.rawValue,
                    checkpoint.created?.millisecondsSinceEpoch,
                ]
            )
        }
        var ids: [FileLocation: Int64] = [:]
        for file in vm.files {
            var volume: String?
            var relative: String?
            var node: String?
            switch file.location {
            case .volume(let id, let path): (volume, relative) = (id.rawValue, path)
            case .nodeLocal(let name, _): node = name.rawValue
            }
            try db.execute(
                sql: """
                    INSERT INTO file (vm_id, volume_id, relative_path, node, path, kind, format, size, identifier,
                                      checkpoint_id, problem, problem_detail)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    vm.id.rawValue, volume, relative, node, file.path, file.kind.rawValue, file.format?.rawValue,
                    file.size, file.identifier, file.checkpoint?.rawValue, file.problem?.rawValue, file.problemDetail,
                ]
            )
            ids[file.location] = db.lastInsertedRowID
        }
        for (position, chain) in vm.chains.enumerated() {
            let chainIDs = chain.elements.compactMap { ids[$0] }
            try db.execute(
                sql: "INSERT INTO disk_chain (vm_id, checkpoint_id, position, leaf_file_id) VALUES (?, ?, ?, ?)",
                arguments: [vm.id.rawValue, chain.checkpoint?.rawValue, position, chainIDs[0]]
            )
            for (child, parent) in zip(chainIDs, chainIDs.dropFirst()) {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO disk_chain_link (child_file_id, parent_file_id) VALUES (?, ?)",
                    arguments: [child, parent]
                )
            }
        }
    }

    @Test func aDatabaseOfTheReleaseBeforeKeepsEveryCheckpointFileAndChain() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ck-019-\(UUID().uuidString).sqlite")
            .path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        var vms = [
            TemporaryStore.branchedVM(name: "web01", id: "web01-id"),
            TemporaryStore.branchedVM(name: "db01", id: "db01-id"),
        ]
        vms[1].files[2].problem = .chainBroken
        vms[1].files[2].problemDetail = "parent \"x\" gone"
        vms[1].files.append(
            VMFile(
                location: .nodeLocal(NodeName("node1"), absolutePath: "/var/lib/db01.vmrs"),
                path: "/var/lib/db01.vmrs",
                kind: .memory,
                size: 4096
            )
        )
        let bare = VM(
            id: VMID("bare-id"),
            name: "bare",
            ownership: Ownership(owner: NodeName("node1"), epoch: .initial),
            state: .off,
            highlyAvailable: false,
            memoryMiB: 512,
            checkpoints: [],
            files: [],
            chains: []
        )
        vms.append(bare)
        do {
            let pool = try DatabasePool(path: path)
            try ClusterStore.migrator.migrate(pool, upTo: Migration018InventoryShape.identifier)
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO node (name, state, registered_at) VALUES ('node1', 'up', 1);
                        INSERT INTO volume (id, name, first_seen_at) VALUES ('\(TemporaryStore.csv1)', 'csv1', 1);
                        """
                )
                for vm in vms { try Self.writeRowsOfTheReleaseBefore(vm, in: db) }
            }
        }
        let store = try ClusterStore(path: path)
        let loaded = try store.snapshot().vms.sorted { $0.id.rawValue < $1.id.rawValue }
        let expected = vms.sorted { $0.id.rawValue < $1.id.rawValue }
        #expect(loaded.map(\.id) == expected.map(\.id))
        for (read, written) in zip(loaded, expected) {
            #expect(
                read.checkpoints.sorted { $0.id.rawValue < $1.id.rawValue }
                    == written.checkpoints.sorted {
                        $0.id.rawValue < $1.id.rawValue
                    }
            )
            #expect(read.files == written.files, "\(written.name)")
            #expect(read.chains == written.chains, "\(written.name)")
        }
        #expect(try Self.disks(in: store).count == 10, "five disks of each branched VM")
        // A report of the same inventory afterwards changes nothing that is read.
        _ = try store.ingest(ReportStepTests.batch(Array(vms.prefix(2))), at: TemporaryStore.now)
        #expect(try store.snapshot().vms.first { $0.name == "db01" }?.files == vms[1].files)
    }
}
