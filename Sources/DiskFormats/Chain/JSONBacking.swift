import FoundationEssentials

/// A qcow2 backing file given as qemu's `json:{…}` pseudo-protocol (issue 26): when its innermost protocol node is a
/// plain file, the chain follows that file as qemu does; anything else (`nbd`, `rbd`, `iscsi`, …) stays an external
/// source.
///
/// Both spellings qemu writes are read: nested (`{"driver": "qcow2", "file": {"driver": "file", "filename": "/b"}}`)
/// and flattened (`{"file.driver": "file", "file.filename": "/b"}`).
public enum JSONBacking {
    /// The file the backing names, and the format its top node names (`qcow2`, `raw`, …) if any.
    public struct File: Hashable, Sendable {
        public var path: String
        public var format: String?
    }

    /// `backing` as a plain file, or `nil` when it is not `json:` or names no plain file.
    public static func file(_ backing: String) -> File? {
        guard backing.hasPrefix("json:"), backing.utf8.count <= 65_536,
            let value = try? JSONDecoder().decode(Value.self, from: Data(backing.utf8.dropFirst(5)))
        else { return nil }
        var flat: [String: String] = [:]
        flatten(value, prefix: "", into: &flat, depth: 0)
        // Down the `file` children to the protocol node.
        var prefix = ""
        while flat[prefix + "file.driver"] != nil || flat[prefix + "file.filename"] != nil {
            prefix += "file."
        }
        guard let path = flat[prefix + "filename"], !path.isEmpty, flat[prefix + "driver"].map({ $0 == "file" }) ?? true
        else { return nil }
        let top = prefix.isEmpty ? nil : flat["driver"]
        return File(path: path, format: top)
    }

    indirect enum Value: Decodable {
        case object([String: Value])
        case text(String)
        case other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let object = try? container.decode([String: Value].self) {
                self = .object(object)
            } else if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                self = .other
            }
        }
    }

    private static func flatten(_ value: Value, prefix: String, into flat: inout [String: String], depth: Int) {
        guard depth < 16, case .object(let object) = value else { return }
        for (key, child) in object {
            switch child {
            case .text(let text): flat[prefix + key] = text
            case .object: flatten(child, prefix: prefix + key + ".", into: &flat, depth: depth + 1)
            case .other: continue
            }
        }
    }
}
