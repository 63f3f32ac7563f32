import ChainModel
import Foundation

/// A VM's checkpoints, files and chains as `InventoryDocument` wrote them into `vm_inventory.body`, read back with
/// `JSONDecoder`.
///
/// A document that does not read (changed by hand: SQLite only checks that it is JSON) is an error for that VM alone;
/// `ClusterStore.loadVMs` reads such a VM with no inventory rather than stop whoever reads it.
struct StoredInventory: Decodable {
    struct StoredCheckpoint: Decodable {
        var checkpoint: Checkpoint

        init(from decoder: any Decoder) throws {
            var row = try decoder.unkeyedContainer()
            let id = try row.decode(String.self)
            let name = try row.decode(String.self)
            let parent = try row.decodeIfPresent(String.self)
            let created = try row.decodeIfPresent(Int64.self)
            checkpoint = Checkpoint(
                id: CheckpointID(id),
                name: name,
                parent: parent.map(CheckpointID.init(rawValue:)),
                created: created.map { Timestamp(millisecondsSinceEpoch: $0) }
            )
        }
    }

    struct StoredFile: Decodable {
        var file: VMFile
        /// Index of the next disk towards the base of its chain.
        var parent: Int?

        init(from decoder: any Decoder) throws {
            var row = try decoder.unkeyedContainer()
            let volume = try row.decodeIfPresent(String.self)
            let relativePath = try row.decodeIfPresent(String.self)
            let node = try row.decodeIfPresent(String.self)
            let path = try row.decode(String.self)
            let location: FileLocation
            if let volume, let relativePath {
                location = .volume(VolumeID(volume), relativePath: relativePath)
            } else if let node {
                location = .nodeLocal(NodeName(node), absolutePath: path)
            } else {
                throw DecodingError.dataCorruptedError(in: row, debugDescription: "a file on no volume and no node")
            }
            func value<E: RawRepresentable>(_ type: E.Type, _ raw: String?) throws -> E? where E.RawValue == String {
                guard let raw else { return nil }
                guard let value = E(rawValue: raw) else {
                    throw DecodingError.dataCorruptedError(in: row, debugDescription: "unknown value '\(raw)'")
                }
                return value
            }
            let kind = try value(FileKind.self, try row.decode(String.self))
            let format = try value(DiskFormat.self, try row.decodeIfPresent(String.self))
            let size = try row.decode(Int64.self)
            let identifier = try row.decodeIfPresent(String.self)
            let checkpoint = try row.decodeIfPresent(String.self)
            let problem = try value(FileProblem.self, try row.decodeIfPresent(String.self))
            let problemDetail = try row.decodeIfPresent(String.self)
            parent = try row.decodeIfPresent(Int.self)
            guard let kind else { throw DecodingError.dataCorruptedError(in: row, debugDescription: "no kind") }
            file = VMFile(
                location: location,
                path: path,
                kind: kind,
                format: format,
                // Bounded, as every value the engine sums (`ValueBounds`).
                size: min(max(size, 0), ValueBounds.bytes),
                identifier: identifier,
                checkpoint: checkpoint.map(CheckpointID.init(rawValue:)),
                problem: problem,
                problemDetail: problemDetail
            )
        }
    }

    struct StoredChain: Decodable {
        var checkpoint: CheckpointID?
        var leaf: Int

        init(from decoder: any Decoder) throws {
            var row = try decoder.unkeyedContainer()
            checkpoint = try row.decodeIfPresent(String.self).map(CheckpointID.init(rawValue:))
            leaf = try row.decode(Int.self)
        }
    }

    var checkpoints: [StoredCheckpoint]
    var files: [StoredFile]
    var chains: [StoredChain]

    /// The VM's chains, leaf to base, each followed through the files' parents until a file repeats or is missing.
    var diskChains: [DiskChain] {
        chains.map { chain in
            var elements: [FileLocation] = []
            var visited = Set<Int>()
            var cursor: Int? = chain.leaf
            while let index = cursor, files.indices.contains(index), visited.insert(index).inserted {
                elements.append(files[index].file.location)
                cursor = files[index].parent
            }
            return DiskChain(checkpoint: chain.checkpoint, elements: elements)
        }
    }
}
