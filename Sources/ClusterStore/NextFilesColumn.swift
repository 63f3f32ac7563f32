import ChainModel
import Foundation

/// `vm.next_files` (migration 014): a VM's next-file locations as JSON.
enum NextFilesColumn {
    struct Entry: Codable {
        var role: String
        var path: String
        var volumeId: String?
        var relativePath: String?
        var node: String?
    }

    static func encode(_ locations: [NextFileLocation]) -> String? {
        guard !locations.isEmpty else { return nil }
        let entries = locations.map { location -> Entry in
            switch location.location {
            case .volume(let volume, let relative):
                Entry(
                    role: location.role.rawValue,
                    path: location.path,
                    volumeId: volume.rawValue,
                    relativePath: relative
                )
            case .nodeLocal(let node, let path):
                // A node-local place is the path itself on that node.
                Entry(role: location.role.rawValue, path: path, node: node.rawValue)
            }
        }
        return (try? JSONEncoder().encode(entries)).map { String(decoding: $0, as: UTF8.self) }
    }

    static func decode(_ text: String?) -> [NextFileLocation] {
        guard let text, let entries = try? JSONDecoder().decode([Entry].self, from: Data(text.utf8)) else { return [] }
        return entries.compactMap { entry in
            guard let role = NextFileLocation.Role(rawValue: entry.role) else { return nil }
            if let volume = entry.volumeId, let relative = entry.relativePath {
                return NextFileLocation(
                    role: role,
                    path: entry.path,
                    location: .volume(VolumeID(volume), relativePath: relative)
                )
            }
            guard let node = entry.node else { return nil }
            return NextFileLocation(
                role: role,
                path: entry.path,
                location: .nodeLocal(NodeName(node), absolutePath: entry.path)
            )
        }
    }
}
