import ChainModel
import GRDB

/// The rows an owner's report of one VM writes (its `vm` row, checkpoints, files, chains and chain links), built
/// without the database, so that a report's next step is built on another thread while the writer applies this one.
///
/// The arguments are made here, in statements of as many rows as SQLite's parameter limit allows: turning values into
/// statement arguments cost the writer as much as SQLite's own B-tree work. File ids are SQLite's (one above the
/// largest, in insertion order: `ClusterStore.writeInventory` checks it), so chains and links name files by their
/// index in the VM's file set.
struct InventoryRows: Sendable {
    /// Rows of one multi-row `INSERT` and their arguments.
    struct Chunk: Sendable {
        /// `(?, ?), (?, ?)`: the statement is cached by its text.
        var placeholders: String
        var arguments: StatementArguments
    }

    static let checkpointColumns = 5
    static let fileColumns = 12
    /// Columns of a file row written in place when only they changed: format, size, identifier, problem and its
    /// detail, none of them in an index.
    static let attributeColumns = 5

    var id: String
    var vm: StatementArguments
    /// Parents before children: the parent foreign key is checked row by row.
    var checkpoints: [Chunk]
    var files: [Chunk]
    var fileCount: Int
    /// Checkpoint and position of each chain, and its leaf's file index.
    var chains: [(checkpoint: String?, position: Int, leaf: Int)]
    /// Child and parent file indexes.
    var links: [(child: Int, parent: Int)]
    /// `InventoryShape` of these rows (`vm.inventory_shape`).
    var shape: String
    /// Each file's `attributeColumns` values, in file order.
    var attributes: [DatabaseValue]

    /// The rows of `vm` as its owner reported it; `digest` is `InventoryDigest.of(vm)`.
    ///
    /// Throws `invalidInventory` when the checkpoints do not form a tree or a chain names a file the VM's file set
    /// does not hold.
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
        var shape = InventoryShape(capacity: 256 * (order.count + vm.files.count + vm.chains.count))
        var checkpointValues: [DatabaseValue] = []
        checkpointValues.reserveCapacity(order.count * Self.checkpointColumns)
        for checkpoint in order {
            checkpointValues += [
                id, checkpoint.id.rawValue.databaseValue, checkpoint.name.databaseValue,
                checkpoint.parent?.rawValue.databaseValue ?? .null,
                checkpoint.created?.millisecondsSinceEpoch.databaseValue ?? .null,
            ]
        }
        shape.add(order.count)
        for value in checkpointValues { shape.add(value) }
        var indexes: [FileLocation: Int] = [:]
        indexes.reserveCapacity(vm.files.count)
        var fileValues: [DatabaseValue] = []
        fileValues.reserveCapacity(vm.files.count * Self.fileColumns)
        var attributes: [DatabaseValue] = []
        attributes.reserveCapacity(vm.files.count * Self.attributeColumns)
        for file in vm.files where indexes[file.location] == nil {
            let index = indexes.count
            indexes[file.location] = index
            var volumeID = DatabaseValue.null
            var relativePath = DatabaseValue.null
            var node = DatabaseValue.null
            switch file.location {
            case .volume(let volume, let path):
                volumeID = volume.rawValue.databaseValue
                relativePath = path.databaseValue
            case .nodeLocal(let name, _):
                node = name.rawValue.databaseValue
            }
            let path = file.path.databaseValue
            let kind = file.kind.rawValue.databaseValue
            let checkpoint = file.checkpoint?.rawValue.databaseValue ?? .null
            let format = file.format?.rawValue.databaseValue ?? .null
            let size = file.size.databaseValue
            let identifier = file.identifier?.databaseValue ?? .null
            let problem = file.problem?.rawValue.databaseValue ?? .null
            let problemDetail = file.problemDetail?.databaseValue ?? .null
            fileValues += [
                id, volumeID, relativePath, node, path, kind, format, size, identifier, checkpoint, problem,
                problemDetail,
            ]
            attributes += [format, size, identifier, problem, problemDetail]
            for value in [volumeID, relativePath, node, path, kind, checkpoint] { shape.add(value) }
        }
        shape.add(indexes.count)
        checkpoints = Self.chunks(of: checkpointValues, columns: Self.checkpointColumns)
        files = Self.chunks(of: fileValues, columns: Self.fileColumns)
        fileCount = indexes.count
        chains = []
        links = []
        var linked = Set<Int>()
        for (position, chain) in vm.chains.enumerated() {
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
            chains.append((chain.checkpoint?.rawValue, position, leaf))
            // A disk has one parent: the first chain through it says which.
            for (child, parent) in zip(chainIndexes, chainIndexes.dropFirst())
            where child != parent && linked.insert(child).inserted {
                links.append((child, parent))
            }
        }
        shape.add(chains.count)
        for chain in chains {
            shape.add(chain.checkpoint?.databaseValue ?? .null)
            shape.add(chain.position)
            shape.add(chain.leaf)
        }
        shape.add(links.count)
        for link in links {
            shape.add(link.child)
            shape.add(link.parent)
        }
        self.shape = shape.digest
        self.attributes = attributes
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
