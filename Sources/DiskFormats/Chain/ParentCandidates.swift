import ChainModel

/// One place a child says its parent may be, in the order the format defines.
public struct ParentCandidate: Hashable, Sendable {
    /// Which locator gave it: `relative_path`, `volume_path`, `absolute_win32_path`, `W2ru`, `W2ku`,
    /// `parent name`, `backing file`.
    public var source: String
    /// The value as stored.
    public var stored: String
    /// The local path it resolves to, or `nil` with `unusable` saying why.
    public var localPath: String?
    public var unusable: String?
}

/// Turns a parent reference into local candidate paths: VHDX tries relative_path, volume_path,
/// absolute_win32_path; VHD W2ru, W2ku, then the parent name; qcow2 its backing file, relative to
/// the child's directory.
public enum ParentCandidates {
    public static func list(
        for parent: ParentReference,
        childPath: String,
        format: DiskFormat,
        pathMap: PathMap
    ) -> [ParentCandidate] {
        let directory = LocalPath.directory(of: childPath)
        var list: [ParentCandidate] = []
        func relative(_ source: String, _ value: String?) {
            guard let value else { return }
            list.append(windowsRelative(source, value, directory: directory))
        }
        func absolute(_ source: String, _ value: String?) {
            guard let value else { return }
            let local = pathMap.localPath(for: value)
            list.append(
                ParentCandidate(
                    source: source,
                    stored: value,
                    localPath: local,
                    unusable: local == nil ? "no pathMap entry covers it" : nil
                )
            )
        }
        switch format {
        case .vhdx:
            relative("relative_path", parent.relativePath)
            absolute("volume_path", parent.volumePath)
            absolute("absolute_win32_path", parent.absoluteWin32Path)
        case .vhd:
            relative("W2ru", parent.relativePath)
            absolute("W2ku", parent.absoluteWin32Path)
            if let name = parent.parentUnicodeName {
                if isWindowsAbsolute(name) { absolute("parent name", name) } else { relative("parent name", name) }
            }
        case .qcow2, .raw:
            if let backing = parent.backingFile {
                list.append(
                    ParentCandidate(
                        source: "backing file",
                        stored: backing,
                        localPath: LocalPath.join(directory, JSONBacking.file(backing)?.path ?? backing)
                    )
                )
            }
        }
        return list
    }

    /// Whether a qcow2 backing name is a protocol source (`nbd://…`, `rbd:pool/img`, a `json:{…}` that names no
    /// plain file) rather than a file.
    public static func isExternalSource(_ backing: String) -> Bool {
        guard let colon = backing.firstIndex(of: ":"), JSONBacking.file(backing) == nil else { return false }
        let scheme = backing[..<colon]
        return scheme.count > 1
            && scheme.allSatisfy { $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }
            && !backing.hasPrefix("/") && !backing.hasPrefix("./") && !backing.hasPrefix("../")
    }

    static func isWindowsAbsolute(_ value: String) -> Bool {
        let scalars = Array(value.unicodeScalars)
        if value.hasPrefix("\\") || value.hasPrefix("/") { return true }
        return scalars.count >= 2 && scalars[1] == ":"
    }

    private static func windowsRelative(_ source: String, _ value: String, directory: String) -> ParentCandidate {
        guard !isWindowsAbsolute(value) else {
            return ParentCandidate(source: source, stored: value, localPath: nil, unusable: "is not a relative path")
        }
        let path = value.replacingBackslashes()
        return ParentCandidate(source: source, stored: value, localPath: LocalPath.join(directory, path))
    }
}
