/// Maps Windows path prefixes (`C:\ClusterStorage\Volume1`, `\\sofs\vms`, `\\?\Volume{…}`) to local
/// directories, so the absolute paths in Hyper-V's parent locators resolve on a Linux agent.
public struct PathMap: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var windowsPrefix: String
        public var localDirectory: String

        public init(windowsPrefix: String, localDirectory: String) {
            self.windowsPrefix = windowsPrefix
            self.localDirectory = localDirectory
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry] = []) { self.entries = entries }

    /// The local path for a Windows path, or `nil` if no entry covers it (or its `..` climbs out of the mapped
    /// directory).
    ///
    /// The longest matching prefix wins; matching is case-insensitive, as Windows is.
    public func localPath(for windowsPath: String) -> String? {
        let path = Self.canonicalWindows(windowsPath)
        var best: (length: Int, local: String)?
        for entry in entries {
            let prefix = Self.canonicalWindows(entry.windowsPrefix)
            guard !prefix.isEmpty else { continue }
            let lowerPath = path.lowercased()
            let lowerPrefix = prefix.lowercased()
            // A drive root (`C:\`) keeps its separator; any other prefix matches up to one.
            let boundary = lowerPrefix.hasSuffix("\\") ? lowerPrefix : lowerPrefix + "\\"
            guard lowerPath == lowerPrefix || lowerPath.hasPrefix(boundary) else { continue }
            if best == nil || prefix.count > best?.length ?? 0 {
                // Normalised as a relative path, so a `..` that climbs out of the mapped directory
                // stays visible: such a path is unusable, not clamped.
                let relative = LocalPath.normalize(
                    String(String(path.dropFirst(prefix.count)).replacingBackslashes().drop { $0 == "/" })
                )
                guard relative != ".." && !relative.hasPrefix("../") else { continue }
                best = (prefix.count, LocalPath.join(entry.localDirectory, "./" + relative))
            }
        }
        return best?.local
    }

    /// The Windows path of a local path (`\\?\C:\…`, as Hyper-V writes absolute locators), or `nil` when no entry
    /// covers it; the longest local directory wins.
    public func windowsPath(for localPath: String) -> String? {
        let path = LocalPath.normalize(localPath)
        let covering = entries.filter { LocalPath.isInside(path, root: LocalPath.normalize($0.localDirectory)) }
        guard let best = covering.max(by: { $0.localDirectory.count < $1.localDirectory.count }) else { return nil }
        let root = LocalPath.normalize(best.localDirectory)
        let rest = String(path.dropFirst(root == "/" ? 1 : root.count).drop { $0 == "/" })
        var prefix = Self.canonicalWindows(best.windowsPrefix)
        if !prefix.hasSuffix("\\") { prefix += "\\" }
        let windows = prefix + rest.replacingOccurrences(of: "/", with: "\\")
        return windows.hasPrefix("\\\\") ? windows : "\\\\?\\" + windows
    }

    /// Strips `\\?\` and `\\?\UNC\`, turns `/` into `\` and drops a trailing separator.
    static func canonicalWindows(_ path: String) -> String {
        var text = path.replacingOccurrences(of: "/", with: "\\")
        if text.hasPrefix("\\\\?\\UNC\\") {
            text = "\\\\" + text.dropFirst(8)
        } else if text.hasPrefix("\\\\?\\") {
            text = String(text.dropFirst(4))
            // The spec's `\\?\server\share\…` form: a UNC path without the UNC marker.
            if !(text.count >= 2 && text.dropFirst().first == ":") && !text.hasPrefix("Volume{") {
                text = "\\\\" + text
            }
        }
        while text.hasSuffix("\\") && text.count > 3 { text.removeLast() }
        return text
    }
}

extension String {
    func replacingBackslashes() -> String { replacingOccurrences(of: "\\", with: "/") }

    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var remaining = self[...]
        while let range = remaining.range(of: target) {
            result += remaining[..<range.lowerBound]
            result += replacement
            remaining = remaining[range.upperBound...]
        }
        return result + remaining
    }
}

extension Substring {
    fileprivate func range(of target: String) -> Range<Substring.Index>? {
        let needle = Array(target.utf8)
        let hay = self.utf8
        guard hay.count >= needle.count else { return nil }
        var index = hay.startIndex
        while let start = hay[index...].firstIndex(of: needle[0]) {
            if let end = hay.index(start, offsetBy: needle.count, limitedBy: hay.endIndex),
                hay[start..<end].elementsEqual(needle)
            {
                return start..<end
            }
            index = hay.index(after: start)
        }
        return nil
    }
}
