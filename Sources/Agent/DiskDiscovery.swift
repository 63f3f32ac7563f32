import ClusterAPI
import DiskFormats
import Foundation

/// Finds the differencing disks on this node's volumes, used by a VM or not, so that the coordinator can name orphans
/// against every chain in the cluster (`orphan-disk`), not one node's.
public enum DiskDiscovery {
    /// File name endings that can hold a differencing disk.
    static let extensions: Set<String> = ["vhdx", "avhdx", "vhd", "avhd", "qcow2", "qcow"]

    /// Walks each volume to `maxDepth` directories (skipping hidden ones such as `.chainkeeper`), reading the header
    /// of every candidate through `fileSystem`.
    public static func differencingDisks(
        on volumes: [LocalVolume],
        fileSystem: any ChainFileSystem,
        maxDepth: Int = 8
    ) -> [ReportedDisk] {
        var found: [ReportedDisk] = []
        for volume in volumes {
            var pending: [(relative: String, depth: Int)] = [("", 0)]
            while let (relative, depth) = pending.popLast() {
                let directory = relative.isEmpty ? volume.root : LocalPath.join(volume.root, relative)
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
                for name in names.sorted() where !name.hasPrefix(".") {
                    let childRelative = relative.isEmpty ? name : relative + "/" + name
                    let path = LocalPath.join(volume.root, childRelative)
                    var status = stat()
                    guard lstat(path, &status) == 0 else { continue }
                    switch status.st_mode & S_IFMT {
                    case S_IFDIR:
                        if depth + 1 < maxDepth { pending.append((childRelative, depth + 1)) }
                    case S_IFREG:
                        let ending = name.split(separator: ".").last.map { $0.lowercased() } ?? ""
                        guard extensions.contains(ending), isDifferencing(path, fileSystem: fileSystem) else {
                            continue
                        }
                        found.append(ReportedDisk(volumeId: volume.marker.id, relativePath: childRelative, path: path))
                    default:
                        continue
                    }
                }
            }
        }
        return found
    }

    private static func isDifferencing(_ path: String, fileSystem: any ChainFileSystem) -> Bool {
        guard let opened = try? fileSystem.open(path),
            let info = try? fileSystem.readInfo(of: opened, path: path, as: nil)
        else { return false }
        return info.diskType == .differencing
    }
}
