import ChainModel
import ClusterStore
import DecisionEngine
import DiskFormatsTesting
import Foundation
import GRDB
import Testing

@testable import Coordinator

/// The placement view brought up to date from the `vm` rows a commit changed equals the view built from every row,
/// after every kind of change: registrations, state, memory and name changes, owners moved, policies, deletions, a row
/// id given to a new VM, rolled-back writes, and operations under way.
@Suite struct PlacementCacheTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func anUpdatedViewEqualsOneBuiltFromEveryRow(seed: UInt64) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ck-view-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try ClusterStore(path: directory.appendingPathComponent("cluster.sqlite").path)
        let cache = PlacementCache(store: store)
        let now = Timestamp(secondsSinceEpoch: 1_800_000_000)
        let nodes = (1...4).map { NodeName("node\($0)") }
        for node in nodes { try store.saveNode(Node(name: node, memoryMiB: 65_536), at: now) }
        var random = SplitMix64(seed: seed)
        var known: [String] = []
        var serial = 0

        func vm(_ id: String, owner: NodeName) -> VM {
            VM(
                id: VMID(id),
                name: "vm-\(Int.random(in: 0..<5, using: &random))",
                ownership: Ownership(owner: owner, epoch: .initial),
                state: [PowerState.running, .off, .saved, .paused].randomElement(using: &random)!,
                memoryMiB: Int.random(in: 0...4096, using: &random)
            )
        }
        func register() throws {
            serial += 1
            let id = "vm-\(seed)-\(serial)"
            try store.saveInventory(of: vm(id, owner: nodes.randomElement(using: &random)!), at: now)
            known.append(id)
        }
        func owner(of id: String) throws -> NodeName {
            NodeName(
                try store.writer.read {
                    try String.fetchOne($0, sql: "SELECT owner FROM vm WHERE id = ?", arguments: [id])
                } ?? ""
            )
        }

        for _ in 0..<20 { try register() }
        var kinds: [String: Int] = [:]
        for step in 0..<120 {
            let kind = known.count < 5 ? 0 : Int.random(in: 0..<9, using: &random)
            let id = known.randomElement(using: &random) ?? ""
            switch kind {
            case 0:
                try register()
            case 1:
                // A report of a known VM: state, memory and name as the owner reports them.
                try store.saveInventory(of: vm(id, owner: try owner(of: id)), at: now)
            case 2:
                try store.writer.write { db in
                    try db.execute(
                        sql: "UPDATE vm SET owner = ?, epoch = epoch + 1 WHERE id = ?",
                        arguments: [nodes.randomElement(using: &random)!.rawValue, id]
                    )
                }
            case 3:
                let policy = PlacementPolicy(antiAffinityClass: ["web", "db", nil].randomElement(using: &random)!)
                try store.savePolicy(policy, for: VMID(id))
            case 4:
                // The VM with the highest row id, deleted, then a new one registered: it may get the same row id.
                try store.writer.write { db in
                    let last = try String.fetchOne(db, sql: "SELECT id FROM vm ORDER BY rowid DESC LIMIT 1")
                    try db.execute(sql: "DELETE FROM placement_policy WHERE vm_id = ?", arguments: [last])
                    try db.execute(sql: "DELETE FROM migration WHERE vm_id = ?", arguments: [last])
                    try db.execute(sql: "DELETE FROM vm WHERE id = ?", arguments: [last])
                    known.removeAll { $0 == last }
                }
                try register()
            case 8:
                // A VM deleted: its row id is not reused while a later row exists.
                try store.writer.write { db in
                    for table in ["placement_policy", "migration", "vm"] {
                        try db.execute(
                            sql: "DELETE FROM \(table) WHERE \(table == "vm" ? "id" : "vm_id") = ?",
                            arguments: [id]
                        )
                    }
                }
                known.removeAll { $0 == id }
            case 5:
                // A write the database rolls back changes nothing.
                struct Refused: Error {}
                _ = try? store.writer.write { db in
                    try db.execute(
                        sql: "UPDATE vm SET memory_mib = memory_mib + 1, state = 'Running' WHERE id = ?",
                        arguments: [id]
                    )
                    throw Refused()
                }
                try store.writer.write { db in
                    try? db.inSavepoint {
                        try db.execute(sql: "UPDATE vm SET owner = 'node1' WHERE id = ?", arguments: [id])
                        throw Refused()
                    }
                    try db.execute(
                        sql: "UPDATE vm SET inventory_at = ? WHERE id = ?",
                        arguments: [now.millisecondsSinceEpoch, id]
                    )
                }
            case 6:
                // Several changes in one commit, one VM twice.
                try store.writer.write { db in
                    for other in known.shuffled(using: &random).prefix(4) + [id] {
                        try db.execute(
                            sql: "UPDATE vm SET memory_mib = ?, state = 'Running' WHERE id = ?",
                            arguments: [Int.random(in: 0...2048, using: &random), other]
                        )
                    }
                }
            default:
                // An operation under way, read from the journal with the small tables.
                _ = try? store.planMigration(
                    vm: VMID(id),
                    source: try owner(of: id),
                    target: nodes.randomElement(using: &random)!,
                    kind: .migration,
                    requestedBy: "test",
                    at: now
                )
            }
            kinds[String(kind), default: 0] += 1
            let updated = try cache.view(store: store, now: now, settings: ClusterSettings())
            let input = try store.placementInput(matching: "")
            let built = ClusterView(
                input.snapshot,
                placements: input.placements.map {
                    VMPlacement(id: $0.id, name: $0.name, owner: $0.owner, state: $0.state, memoryMiB: $0.memoryMiB)
                },
                now: now,
                settings: ClusterSettings()
            )
            #expect(updated.placements == built.placements, "seed \(seed) step \(step) (change \(kind))")
            #expect(Self.load(updated) == Self.load(built), "seed \(seed) step \(step) (change \(kind))")
            #expect(updated.operationsInProgress == built.operationsInProgress)
            #expect(updated.policies == built.policies)
            #expect(updated.nodes == built.nodes)
        }
        #expect(cache.rebuilds.full == 1, "one build from every row; each commit after it an update")
        #expect(cache.rebuilds.updates >= 100)
        #expect(kinds.count == 9, "every kind of change ran: \(kinds)")
    }

    /// Node load with empty entries and classes dropped and each class's VMs in order: a view brought up to date keeps
    /// a node whose last VM left, and appends VMs where a build from every row lists them by row.
    static func load(_ view: ClusterView) -> [NodeName: String] {
        var result: [NodeName: String] = [:]
        for (node, load) in view.load where load.vmCount != 0 || load.memoryUsedMiB != 0 {
            let classes = load.runningByClass.filter { !$0.value.isEmpty }.map {
                "\($0.key):\($0.value.map(\.rawValue).sorted())"
            }.sorted()
            result[node] = "\(load.vmCount) \(load.memoryUsedMiB) \(classes)"
        }
        return result
    }
}
