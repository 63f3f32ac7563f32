import DiskFormats
import Foundation

/// A volume this node reaches: its marker and where it is mounted here.
public struct LocalVolume: Sendable, Hashable {
    public var marker: VolumeMarker
    /// The volume root as configured (not resolved through symlinks), absolute.
    public var root: String
    /// The root with symlinks resolved, for matching files that were reached through links.
    public var canonicalRoot: String
    public var filesystemType: String?
}

/// Finds volume markers: each configured directory and its immediate children are candidate
/// roots (SPEC §2, agent key `volumes`).
public enum VolumeDiscovery {
    public static func discover(in directories: [String], mounts: MountTable) -> [LocalVolume] {
        var found: [String: LocalVolume] = [:]
        for directory in directories {
            var candidates = [directory]
            if let children = try? FileManager.default.contentsOfDirectory(atPath: directory) {
                candidates += children.sorted().filter { !$0.hasPrefix(".") }.map { LocalPath.join(directory, $0) }
            }
            for candidate in candidates {
                guard let marker = VolumeMarker.read(in: candidate), found[marker.id] == nil else { continue }
                let canonical = realPath(candidate) ?? candidate
                found[marker.id] = LocalVolume(
                    marker: marker,
                    root: LocalPath.normalize(candidate),
                    canonicalRoot: canonical,
                    filesystemType: mounts.filesystemType(of: canonical)
                )
            }
        }
        return found.values.sorted { $0.root < $1.root }
    }

    /// The volume holding `path` (the longest root that contains it), and the path relative to that root.
    public static func locate(_ path: String, in volumes: [LocalVolume]) -> (volume: LocalVolume, relativePath: String)?
    {
        let normalized = LocalPath.normalize(path)
        let canonical = realPath(normalized)
        var best: (LocalVolume, String, Int)?
        for volume in volumes {
            for (candidate, root) in [(normalized, volume.root), (canonical ?? normalized, volume.canonicalRoot)]
            where LocalPath.isInside(candidate, root: root) && candidate != root {
                let relative = String(candidate.dropFirst(root == "/" ? 1 : root.count + 1))
                if best == nil || root.count > best?.2 ?? 0 { best = (volume, relative, root.count) }
            }
        }
        return best.map { ($0.0, $0.1) }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
