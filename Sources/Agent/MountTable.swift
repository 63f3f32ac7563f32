import DiskFormats
import Foundation

/// `/proc/self/mountinfo`, to name the filesystem type under a volume (nfs4, cifs, gfs2, ocfs2…).
public struct MountTable: Sendable {
    public struct Mount: Sendable, Hashable {
        public var mountPoint: String
        public var filesystemType: String

        public init(mountPoint: String, filesystemType: String) {
            self.mountPoint = mountPoint
            self.filesystemType = filesystemType
        }
    }

    public var mounts: [Mount]

    public init(mounts: [Mount]) { self.mounts = mounts }

    /// The current process's mount table, or an empty one where /proc is not available.
    public static func current() -> MountTable {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else {
            return MountTable(mounts: [])
        }
        return parse(text)
    }

    /// Parses mountinfo lines: `id parent major:minor root mountPoint options [optional…] - fstype source superOptions`.
    public static func parse(_ text: String) -> MountTable {
        var mounts: [Mount] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 7, let separator = fields.firstIndex(of: "-"), separator + 1 < fields.count else {
                continue
            }
            mounts.append(Mount(mountPoint: unescape(String(fields[4])), filesystemType: String(fields[separator + 1])))
        }
        return MountTable(mounts: mounts)
    }

    /// The type of the filesystem mounted deepest above `path` (later mounts shadow earlier ones).
    public func filesystemType(of path: String) -> String? {
        var best: Mount?
        for mount in mounts where LocalPath.isInside(path, root: mount.mountPoint) {
            if best == nil || mount.mountPoint.count >= best?.mountPoint.count ?? 0 { best = mount }
        }
        return best?.filesystemType
    }

    /// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
    static func unescape(_ text: String) -> String {
        var bytes: [UInt8] = []
        let source = Array(text.utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
                let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
