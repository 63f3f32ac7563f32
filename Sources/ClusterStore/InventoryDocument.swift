import ChainModel
import GRDB

/// What an owner's report of one VM writes: its `vm` row, its checkpoints, files and chains as one JSON document
/// (`vm_inventory.body`), and the disks it has on shared volumes (`vm_disk`), built without the database so that a
/// report's next step is built on another thread while the writer applies this one.
///
/// One document per VM, not a row per checkpoint, file, chain and link (migration 019, issue 27): a node's first
/// 1,000-VM report wrote 85,000 rows and their index entries, and that SQLite work was the critical path of the
/// report. The layout is in `Migration019InventoryDocuments`; `StoredInventory` reads it back.
struct InventoryDocument: Sendable {
    /// Rows of one multi-row `INSERT` and their arguments.
    struct Chunk: Sendable {
        /// `(?, ?), (?, ?)`: the statement is cached by its text.
        var placeholders: String
        var arguments: StatementArguments
    }

    var id: String
    var vm: StatementArguments
    /// `vm_inventory.body`.
    var body: String
    /// `vm_disk` rows: volume, relative path and VM of each disk on a shared volume.
    var disks: [Chunk]
    /// `InventoryShape` of the disk rows (`vm.disks_digest`): equal digests, equal rows, nothing to rewrite.
    var disksDigest: String
    /// Each volume a file is on, once, with the path of its first file there: the writer checks that the cluster
    /// knows them (the foreign key of the file rows before documents).
    var volumes: [(volume: String, path: String)]
    /// The same for the nodes whose local disks hold a file.
    var nodes: [(node: String, path: String)]

    /// The rows of `vm` as its owner reported it; `digest` is `InventoryDigest.of(vm)`.
    ///
    /// Throws `invalidInventory` when the checkpoints do not form a tree, a file or chain names a checkpoint the VM
    /// does not have, a chain names a file the VM's file set does not hold, or a size is out of bounds: what the
    /// tables' foreign keys and checks refused before documents.
    init(of vm: VM, digest: String, reportKey: String?, at now: Timestamp) throws(StoreError) {
        let order: [Checkpoint]
        do {
            order = try CheckpointTree(vm.checkpoints).depthFirst().map(\.checkpoint)
        } catch {
            throw StoreError(error)
        }
        self.id = vm.id.rawValue
        let id = vm.id.rawValue.databaseValue
        let at = now.millisecondsSinceEpoch.databaseValue
        let vmValues: [DatabaseValue] = [
            id, vm.name.databaseValue, vm.owner.rawValue.databaseValue, vm.ownership.epoch.rawValue.databaseValue,
            vm.state.rawValue.databaseValue, vm.highlyAvailable.databaseValue, vm.memoryMiB.databaseValue, at, at,
            digest.databaseValue, vm.metadata?.reportedDigest.databaseValue ?? .null,
            NextFilesColumn.encode(vm.nextFiles).databaseValue, vm.mergePending.databaseValue,
            reportKey?.databaseValue ?? .null,
        ]
        self.vm = StatementArguments(vmValues)
        let checkpointIDs = Set(order.map(\.id))
        func known(_ checkpoint: CheckpointID?, _ what: @autoclosure () -> String) throws(StoreError) {
            guard let checkpoint, !checkpointIDs.contains(checkpoint) else { return }
            throw StoreError(
                .invalidInventory,
                "\(what()) of \(vm.name) names checkpoint \(checkpoint), which the VM does not have"
            )
        }

        var files: [VMFile] = []
        var volumes: [(volume: String, path: String)] = []
        var nodes: [(node: String, path: String)] = []
        var indexes: [FileLocation: Int] = [:]
        files.reserveCapacity(vm.files.count)
        indexes.reserveCapacity(vm.files.count)
        for file in vm.files where indexes[file.location] == nil {
            try known(file.checkpoint, "file \(file.path)")
            guard (0...ValueBounds.bytes).contains(file.size) else {
                throw StoreError(.invalidInventory, "file \(file.path) of \(vm.name) has size \(file.size)")
            }
            indexes[file.location] = files.count
            files.append(file)
            switch file.location {
            case .volume(let volume, _) where !volumes.contains(where: { $0.volume == volume.rawValue }):
                volumes.append((volume.rawValue, file.path))
            case .nodeLocal(let node, _) where !nodes.contains(where: { $0.node == node.rawValue }):
                nodes.append((node.rawValue, file.path))
            default: break
            }
        }
        var chains: [(checkpoint: CheckpointID?, leaf: Int)] = []
        var parents = [Int?](repeating: nil, count: files.count)
        for chain in vm.chains {
            try known(chain.checkpoint, "a disk chain")
            var chainIndexes: [Int] = []
            chainIndexes.reserveCapacity(chain.elements.count)
            for location in chain.elements {
                guard let index = indexes[location] else {
                    throw StoreError(
                        .invalidInventory,
                        "a disk chain of \(vm.name) names \(location.key), which is not in the VM's file set"
                    )
                }
                chainIndexes.append(index)
            }
            guard let leaf = chainIndexes.first else { continue }
            chains.append((chain.checkpoint, leaf))
            // A disk has one parent: the first chain through it says which.
            for (child, parent) in zip(chainIndexes, chainIndexes.dropFirst()) where child != parent {
                if parents[child] == nil { parents[child] = parent }
            }
        }

        // Checkpoints in the byte order of their ids, the order they read back in.
        let sorted = order.sorted { $0.id.rawValue.utf8.lexicographicallyPrecedes($1.id.rawValue.utf8) }
        var json = JSONText(capacity: 64 + 80 * sorted.count + 200 * files.count + 40 * chains.count)
        json.raw("{\"checkpoints\":[")
        for (index, checkpoint) in sorted.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw("[")
            json.string(checkpoint.id.rawValue)
            json.raw(",")
            json.string(checkpoint.name)
            json.raw(",")
            json.string(checkpoint.parent?.rawValue)
            json.raw(",")
            json.integer(checkpoint.created?.millisecondsSinceEpoch)
            json.raw("]")
        }
        json.raw("],\"files\":[")
        var shape = InventoryShape(capacity: 128 * files.count)
        var diskValues: [DatabaseValue] = []
        for (index, file) in files.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw("[")
            switch file.location {
            case .volume(let volume, let path):
                json.string(volume.rawValue)
                json.raw(",")
                json.string(path)
                json.raw(",null,")
                if file.kind == .disk {
                    let row = [volume.rawValue.databaseValue, path.databaseValue]
                    for value in row { shape.add(value) }
                    diskValues += row + [id]
                }
            case .nodeLocal(let node, _):
                json.raw("null,null,")
                json.string(node.rawValue)
                json.raw(",")
            }
            json.string(file.path)
            json.raw(",")
            json.string(file.kind.rawValue)
            json.raw(",")
            json.string(file.format?.rawValue)
            json.raw(",")
            json.integer(file.size)
            json.raw(",")
            json.string(file.identifier)
            json.raw(",")
            json.string(file.checkpoint?.rawValue)
            json.raw(",")
            json.string(file.problem?.rawValue)
            json.raw(",")
            json.string(file.problemDetail)
            json.raw(",")
            json.integer(parents[index].map(Int64.init))
            json.raw("]")
        }
        json.raw("],\"chains\":[")
        for (index, chain) in chains.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw("[")
            json.string(chain.checkpoint?.rawValue)
            json.raw(",")
            json.integer(Int64(chain.leaf))
            json.raw("]")
        }
        json.raw("]}")
        self.body = json.text
        self.volumes = volumes
        self.nodes = nodes
        shape.add(diskValues.count / 3)
        self.disks = Self.chunks(of: diskValues, columns: 3)
        self.disksDigest = shape.digest
    }

    /// `values` in statements of as many rows of `columns` values as SQLite's 999 parameters allow.
    static func chunks(of values: [DatabaseValue], columns: Int) -> [Chunk] {
        let perStatement = 999 / columns
        let rows = values.count / columns
        return stride(from: 0, to: rows, by: perStatement).map { start in
            let end = min(rows, start + perStatement)
            let row = "(" + Array(repeating: "?", count: columns).joined(separator: ", ") + ")"
            return Chunk(
                placeholders: Array(repeating: row, count: end - start).joined(separator: ", "),
                arguments: StatementArguments(values[(start * columns)..<(end * columns)])
            )
        }
    }
}
