import ChainModel

/// Why a chain could not be followed to its base, with the codes of SPEC §5.
public struct ChainError: Error, Hashable, Sendable {
    public enum Code: String, Hashable, Sendable {
        case fileMissing = "file-missing"
        case chainBroken = "chain-broken"
        case diskNeedsLogReplay = "disk-needs-log-replay"
        /// The parent (or a qcow2 data file) exists outside the directories the walk is confined to (`--root`, an
        /// agent's volumes): not read, not a broken chain.
        case outsideRoots = "outside-roots"
    }

    public var code: Code
    public var message: String
    /// The file at which the walk stopped (the child whose parent failed, or the missing file).
    public var path: String
    /// For `outsideRoots`: the file outside (a parent, or a qcow2 external data file).
    public var outside: String?

    public init(_ code: Code, _ message: String, path: String, outside: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.outside = outside
    }
}

/// One element of a chain: where it is and what its header says.
public struct ChainLink: Hashable, Sendable {
    public var path: String
    public var info: DiskImageInfo

    public init(path: String, info: DiskImageInfo) {
        self.path = path
        self.info = info
    }
}

/// A chain from a disk to its base, or as far as it could be followed.
public struct ResolvedChain: Hashable, Sendable {
    /// The disk first, its base last.
    public var links: [ChainLink]
    public var error: ChainError?
    /// A non-file source the chain ends at (a qcow2 backing `nbd://…` or `rbd:…`).
    public var externalSource: String?
}

/// Follows parent locators from a disk to its base, checking the identity of every link, detecting
/// cycles, bounding depth, and refusing any parent path that leaves the allowed roots.
public struct ChainResolver {
    public var fileSystem: any ChainFileSystem
    /// Directories parents must lie in, after symlinks are resolved; empty means anywhere.
    public var allowedRoots: [String]
    public var pathMap: PathMap
    public var maxDepth: Int

    public init(
        fileSystem: any ChainFileSystem,
        allowedRoots: [String] = [],
        pathMap: PathMap = PathMap(),
        maxDepth: Int = 128
    ) {
        self.fileSystem = fileSystem
        self.allowedRoots = allowedRoots.map(LocalPath.normalize)
        self.pathMap = pathMap
        self.maxDepth = maxDepth
    }

    /// Opens and reads `path`, then follows its chain.
    public func resolve(_ path: String) -> ResolvedChain {
        let opened: OpenedFile?
        do {
            opened = try fileSystem.open(path)
        } catch {
            return ResolvedChain(
                links: [],
                error: ChainError(.chainBroken, "\(path) cannot be read: \(error.message)", path: path)
            )
        }
        guard let opened else {
            return ResolvedChain(links: [], error: ChainError(.fileMissing, "\(path) does not exist", path: path))
        }
        do {
            let info = try fileSystem.readInfo(of: opened, path: path, as: nil)
            return resolve(from: ChainLink(path: path, info: info), identity: opened.identity)
        } catch {
            return ResolvedChain(
                links: [],
                error: ChainError(.chainBroken, "\(path) cannot be parsed: \(error.message)", path: path)
            )
        }
    }

    /// Follows the chain of a disk whose header has already been read.
    public func resolve(from top: ChainLink, identity: FileIdentity?) -> ResolvedChain {
        var links = [top]
        var seen = Set<FileIdentity>()
        if let identity { seen.insert(identity) }
        var current = top
        while true {
            if let error = dataFileProblem(of: current) { return ResolvedChain(links: links, error: error) }
            if current.info.logState == .needsReplay {
                return ResolvedChain(
                    links: links,
                    error: ChainError(
                        .diskNeedsLogReplay,
                        "\(current.path) has a VHDX log that must be replayed before its parent locator can be trusted",
                        path: current.path
                    )
                )
            }
            guard let parent = current.info.parent else { return ResolvedChain(links: links) }
            if let backing = parent.backingFile, ParentCandidates.isExternalSource(backing) {
                return ResolvedChain(links: links, externalSource: backing)
            }
            guard links.count < maxDepth else {
                return ResolvedChain(
                    links: links,
                    error: ChainError(.chainBroken, "the chain is deeper than \(maxDepth) disks", path: current.path)
                )
            }
            switch step(from: current, parent: parent, seen: &seen) {
            case .success(let link):
                links.append(link)
                current = link
            case .failure(let error):
                return ResolvedChain(links: links, error: error)
            }
        }
    }

    private func step(
        from child: ChainLink,
        parent: ParentReference,
        seen: inout Set<FileIdentity>
    ) -> Result<ChainLink, ChainError> {
        let candidates = ParentCandidates.list(
            for: parent,
            childPath: child.path,
            format: child.info.format,
            pathMap: pathMap
        )
        let parentFormat: DiskFormat
        switch expectedParentFormat(child.info) {
        case .success(let format): parentFormat = format
        case .failure(let refusal): return .failure(ChainError(.chainBroken, refusal.message, path: child.path))
        }
        var refusals: [String] = []
        var outside: String?
        var mismatches: [String] = []
        var missing: [String] = []
        for candidate in candidates {
            guard let local = candidate.localPath else {
                missing.append("\(candidate.source) '\(candidate.stored)' \(candidate.unusable ?? "is unusable")")
                continue
            }
            guard isAllowed(local) else {
                refusals.append(
                    "\(candidate.source) '\(candidate.stored)' leads to \(local), outside the allowed directories"
                )
                outside = outside ?? local
                continue
            }
            let opened: OpenedFile?
            do {
                opened = try fileSystem.open(local)
            } catch {
                mismatches.append("\(local) cannot be read: \(error.message)")
                continue
            }
            guard let opened else {
                missing.append("\(candidate.source) '\(candidate.stored)' (\(local)) does not exist")
                continue
            }
            guard isAllowed(opened.canonicalPath) else {
                refusals.append(
                    "\(candidate.source) '\(candidate.stored)' resolves through a link to \(opened.canonicalPath), outside the allowed directories"
                )
                outside = outside ?? opened.canonicalPath
                continue
            }
            guard !seen.contains(opened.identity) else {
                return .failure(
                    ChainError(.chainBroken, "the chain loops: \(local) is already part of it", path: child.path)
                )
            }
            let info: DiskImageInfo
            do {
                info = try fileSystem.readInfo(of: opened, path: local, as: parentFormat)
            } catch {
                mismatches.append("\(local) cannot be parsed as \(parentFormat.rawValue): \(error.message)")
                continue
            }
            if let problem = identityMismatch(child: child.info, parent: parent, parentInfo: info) {
                mismatches.append("\(local): \(problem)")
                continue
            }
            seen.insert(opened.identity)
            return .success(ChainLink(path: local, info: info))
        }
        if !mismatches.isEmpty {
            return .failure(
                ChainError(
                    .chainBroken,
                    "parent of \(child.path) does not match: " + mismatches.joined(separator: "; "),
                    path: child.path
                )
            )
        }
        if !refusals.isEmpty {
            // Outside, not broken: never opened (whether it exists is for whoever may read there to say).
            if let outside {
                return .failure(
                    ChainError(
                        .outsideRoots,
                        "the parent of \(child.path) lies outside the directories the walk may read ("
                            + allowedRoots.joined(separator: ", ") + "), so it was not read: "
                            + refusals.joined(separator: "; "),
                        path: child.path,
                        outside: outside
                    )
                )
            }
            return .failure(
                ChainError(
                    .chainBroken,
                    "parent of \(child.path) refused: " + refusals.joined(separator: "; "),
                    path: child.path
                )
            )
        }
        let detail = missing.isEmpty ? "the locator names no path" : missing.joined(separator: "; ")
        return .failure(ChainError(.fileMissing, "parent of \(child.path) not found: \(detail)", path: child.path))
    }

    /// A qcow2 image's external data file must exist (qemu cannot open the image without it), inside the roots.
    private func dataFileProblem(of link: ChainLink) -> ChainError? {
        guard let name = link.info.externalDataFile, !name.isEmpty else { return nil }
        let local = LocalPath.join(LocalPath.directory(of: link.path), name)
        guard let opened = (try? fileSystem.open(local)) ?? nil else {
            return ChainError(
                .fileMissing,
                "the external data file of \(link.path), '\(name)' (\(local)), does not exist: qemu cannot open the image",
                path: link.path
            )
        }
        guard isAllowed(local), isAllowed(opened.canonicalPath) else {
            return ChainError(
                .outsideRoots,
                "the external data file of \(link.path) is \(local), outside the directories the walk may read ("
                    + allowedRoots.joined(separator: ", ") + ")",
                path: link.path,
                outside: local
            )
        }
        return nil
    }

    private func isAllowed(_ path: String) -> Bool {
        allowedRoots.isEmpty || allowedRoots.contains { LocalPath.isInside(LocalPath.normalize(path), root: $0) }
    }

    /// A parent has its child's format (VHDX, VHD); a qcow2 parent has the format the child states,
    /// never one guessed from the parent's content (qemu's `-F` lesson).
    private func expectedParentFormat(_ child: DiskImageInfo) -> Result<DiskFormat, FormatRefusal> {
        guard child.format == .qcow2 else { return .success(child.format) }
        let json = child.parent?.backingFile.flatMap(JSONBacking.file)?.format
        switch child.parent?.backingFormat ?? json {
        case nil, "qcow2"?: return .success(.qcow2)
        case "raw"?: return .success(.raw)
        case "vhdx"?: return .success(.vhdx)
        case "vpc"?: return .success(.vhd)
        case let other?: return .failure(FormatRefusal(message: "backing format '\(other)' is not supported"))
        }
    }

    private func identityMismatch(child: DiskImageInfo, parent: ParentReference, parentInfo: DiskImageInfo) -> String? {
        guard let expected = parent.identifier else { return nil }
        let actual = parentInfo.identifier
        if actual == expected || (actual != nil && actual == parent.alternateIdentifier) { return nil }
        let format = child.format
        let expectedText = DiskImageInfo.text(expected, format)
        let actualText = actual.map { DiskImageInfo.text($0, format) } ?? "none"
        return format == .vhdx
            ? "parent_linkage \(expectedText) does not match the parent's DataWriteGuid \(actualText)"
            : "parent unique id \(expectedText) does not match the parent's unique id \(actualText)"
    }
}

private struct FormatRefusal: Error {
    var message: String
}
