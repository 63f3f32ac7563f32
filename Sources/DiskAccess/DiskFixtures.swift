import DiskFormats

/// Builds real disk chains on disk with our writer: the test suite, the demo and the benchmarks
/// all make their fixtures here.
public enum DiskFixtures {
    /// A written VHDX or VHD with the identity its child must name.
    public struct Written: Sendable {
        public var path: String
        public var identifier: GUID
    }

    /// Writes `names[0]` as a dynamic base and each further name as a differencing child of the previous one, all in
    /// `directory`, with the three parent locator paths Hyper-V sets.
    ///
    /// Returns them base first. `windowsDirectory` (a drive path) and `volumeGUID` are what the
    /// absolute paths in the locators say.
    public static func vhdxChain(
        in directory: String,
        names: [String],
        virtualSize: UInt64 = 64 << 20,
        windowsDirectory: String = "C:\\ClusterStorage\\Volume1\\fixtures",
        volumeGUID: String = "26a21bda-a627-11d7-9931-806e6f6e6963"
    ) throws -> [Written] {
        try vhdxChain(
            paths: names.map { LocalPath.join(directory, $0) },
            virtualSize: virtualSize,
            windowsDirectory: windowsDirectory,
            volumeGUID: volumeGUID
        )
    }

    /// A VHDX chain whose elements may sit in different directories (a middle AVHDX on another volume, …): each
    /// child's `relative_path` leads from its own directory to its parent, as Hyper-V writes it (backslashes).
    ///
    /// `paths[0]` is the base. The absolute locators name `windowsDirectory`, which resolves only through a `pathMap`.
    public static func vhdxChain(
        paths: [String],
        virtualSize: UInt64 = 64 << 20,
        windowsDirectory: String = "C:\\ClusterStorage\\Volume1\\fixtures",
        volumeGUID: String = "26a21bda-a627-11d7-9931-806e6f6e6963"
    ) throws -> [Written] {
        var generator = SystemRandomNumberGenerator()
        var written: [Written] = []
        for path in paths {
            let dataWriteGuid = GUID.random(using: &generator)
            let parent = written.last.map { previous in
                VHDXWriter.Parent(
                    dataWriteGuid: previous.identifier,
                    relativePath: relativePath(from: LocalPath.directory(of: path), to: previous.path),
                    volumePath:
                        "\\\\?\\Volume{\(volumeGUID)}\(windowsDirectory.dropFirst(2))\\\(LocalPath.fileName(of: previous.path))",
                    absoluteWin32Path: "\\\\?\\\(windowsDirectory)\\\(LocalPath.fileName(of: previous.path))"
                )
            }
            let image = VHDXWriter.image(
                VHDXWriter.Options(
                    virtualSize: virtualSize,
                    fileWriteGuid: GUID.random(using: &generator),
                    dataWriteGuid: dataWriteGuid,
                    virtualDiskID: GUID.random(using: &generator),
                    parent: parent
                )
            )
            try SparseFileWriter.write(image, to: path)
            written.append(Written(path: path, identifier: dataWriteGuid))
        }
        return written
    }

    /// The Windows-style relative path from `directory` to `file`, both absolute and normalised lexically.
    static func relativePath(from directory: String, to file: String) -> String {
        let from = LocalPath.normalize(directory).split(separator: "/")
        let to = LocalPath.normalize(file).split(separator: "/")
        var common = 0
        while common < min(from.count, to.count - 1) && from[common] == to[common] { common += 1 }
        let climbs = Array(repeating: "..", count: from.count - common)
        return (climbs + to[common...].map(String.init)).joined(separator: "\\")
    }

    /// The same for VHD/AVHD: W2ru `.\name`, W2ku the Windows path, and the parent name.
    public static func vhdChain(
        in directory: String,
        names: [String],
        virtualSize: UInt64 = 64 << 20,
        windowsDirectory: String = "C:\\ClusterStorage\\Volume1\\fixtures"
    ) throws -> [Written] {
        var generator = SystemRandomNumberGenerator()
        var written: [Written] = []
        let timestamp: UInt32 = 846_000_000  // 2026-10-23, seconds since 2000
        for name in names {
            let uniqueID = GUID.random(using: &generator)
            let parent = written.last.map { previous in
                let fileName = LocalPath.fileName(of: previous.path)
                return VHDWriter.Parent(
                    uniqueID: previous.identifier,
                    timestamp: timestamp,
                    unicodeName: fileName,
                    relativePath: ".\\\(fileName)",
                    absolutePath: "\(windowsDirectory)\\\(fileName)"
                )
            }
            let image = VHDWriter.image(
                VHDWriter.Options(virtualSize: virtualSize, uniqueID: uniqueID, timestamp: timestamp, parent: parent)
            )
            let path = LocalPath.join(directory, name)
            try SparseFileWriter.write(image, to: path)
            written.append(Written(path: path, identifier: uniqueID))
        }
        return written
    }
}
