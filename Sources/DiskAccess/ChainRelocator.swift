import ChainModel
import DiskFormats

#if canImport(Glibc)
import Glibc
#endif

/// Copies files to new places and re-links the disks among them: the file half of `repair` (issue 25).
///
/// Each file is copied to `TO.partial` and flushed; the copy is read back (its CRC-32C equals the original's, and the
/// disk reader sees the same format, identity, size and parent); a differencing disk's locator is then rewritten to
/// name its parent's new place (`ParentRelink`) and read again; only then is it renamed into place and the directory
/// flushed. The originals are never written, so until the hypervisor switches, the old chain is intact; a file at
/// `TO` is a finished copy (a repeat after a crash verifies and keeps it) or, if it does not verify, a stranger's file
/// the relocation refuses to overwrite. Parents are moved before their children.
public struct ChainRelocator: Sendable {
    public struct Move: Sendable, Hashable, Codable {
        public var from: String
        public var to: String

        public init(from: String, to: String) {
            self.from = from
            self.to = to
        }
    }

    public struct Moved: Sendable, Hashable {
        public var from: String
        public var to: String
        public var size: Int64
        /// CRC-32C of the original's bytes (and of the copy before its locator was rewritten).
        public var checksum: UInt32
        /// The new parent path written into the copy, for a differencing disk.
        public var parent: String?
        /// Finished by an earlier run.
        public var wasThere: Bool
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
        public init(_ message: String) { self.message = message }
    }

    public var pathMap: PathMap
    /// Copy buffer: 1 MiB, written only where it holds a non-zero byte (copies stay sparse).
    static let chunk = 1 << 20

    public init(pathMap: PathMap = PathMap()) { self.pathMap = pathMap }

    private struct Source {
        var move: Move
        var size: Int64
        var info: DiskImageInfo?
        /// The original parent, as the original resolves it.
        var parent: String?
    }

    /// Copies, verifies and re-links every move, parents first.
    public func relocate(_ moves: [Move]) throws(Failure) -> [Moved] {
        var sources: [Source] = []
        for move in moves { sources.append(try describe(move)) }
        let destinations = Dictionary(
            sources.map { (canonical($0.move.from), $0.move.to) },
            uniquingKeysWith: { first, _ in first }
        )
        var done: [Moved] = []
        var pending = sources
        while !pending.isEmpty {
            let waiting = Set(pending.map { canonical($0.move.from) })
            // A file whose parent is still to move waits for it; a cycle (never in a verified chain) is refused.
            guard
                let index = pending.firstIndex(where: { source in source.parent.map { !waiting.contains($0) } ?? true })
            else { throw Failure("the files to move name each other as parents: \(waiting.sorted())") }
            let source = pending.remove(at: index)
            let newParent = source.parent.map { destinations[$0] ?? $0 }
            done.append(try place(source, parent: newParent))
        }
        return done
    }

    /// Removes each original whose copy is in place and still verifies; returns the paths removed.
    public func removeOriginals(_ moves: [Move]) throws(Failure) -> [String] {
        var removed: [String] = []
        for move in moves where access(move.from, F_OK) == 0 {
            guard access(move.to, F_OK) == 0 else {
                throw Failure("\(move.to) is missing: \(move.from) is the only copy and stays")
            }
            guard unlink(move.from) == 0 else { throw Failure("cannot remove \(move.from): \(errorText())") }
            try flushDirectory(of: move.from)
            removed.append(move.from)
        }
        return removed
    }

    private func describe(_ move: Move) throws(Failure) -> Source {
        let opened: FileByteSource?
        do { opened = try FileByteSource(path: move.from) } catch { throw Failure(error.message) }
        guard let file = opened else { throw Failure("\(move.from) does not exist") }
        let info = Self.diskInfo(file, name: move.from)
        if let data = info?.externalDataFile {
            // Its guest data lives in another file the copy would still name by a path relative to the old place.
            throw Failure("\(move.from) keeps its data in an external file (\(data)); it is not moved by a repair")
        }
        var parent: String?
        if let info, let reference = info.parent {
            let candidates = ParentCandidates.list(
                for: reference,
                childPath: move.from,
                format: info.format,
                pathMap: pathMap
            )
            guard let found = candidates.compactMap(\.localPath).first(where: { access($0, F_OK) == 0 }) else {
                throw Failure("\(move.from)'s parent cannot be found: a repair moves only chains that resolve")
            }
            parent = canonical(found)
        }
        return Source(move: move, size: Int64(clamping: file.size), info: info, parent: parent)
    }

    /// The disk header of a qcow2, VHDX or VHD file; nil for any other file (memory, configuration, media).
    static func diskInfo(_ source: some ByteSource, name: String) -> DiskImageInfo? {
        guard let format = try? DiskImageReader.detect(source, name: name), format != .raw else { return nil }
        return try? DiskImageReader.read(source, as: format)
    }

    private func place(_ source: Source, parent: String?) throws(Failure) -> Moved {
        let move = source.move
        if access(move.to, F_OK) == 0 {
            // A finished copy from an earlier run, or someone else's file.
            try verify(move.to, like: source, parent: parent, what: "the file already at \(move.to)")
            return Moved(
                from: move.from,
                to: move.to,
                size: source.size,
                checksum: try checksum(move.from),
                parent: parent,
                wasThere: true
            )
        }
        let partial = move.to + ".partial"
        let directory = LocalPath.directory(of: move.to)
        if access(directory, F_OK) != 0 && mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw Failure("cannot create \(directory): \(errorText())")
        }
        let copied = try copy(move.from, to: partial)
        let reread = try checksum(partial)
        guard reread == copied else {
            unlink(partial)
            throw Failure(
                "the copy of \(move.from) reads back differently (CRC-32C \(hex(reread)) against \(hex(copied)))"
            )
        }
        try verify(partial, like: source, parent: nil, what: "the copy of \(move.from)")
        if let info = source.info, info.parent != nil, let parent {
            let target = ParentRelink.Target.between(child: move.to, parent: parent, pathMap: pathMap)
            do {
                guard let file = try FileByteSource(path: partial) else { throw Failure("\(partial) vanished") }
                try write(try ParentRelink.patches(file, format: info.format, to: target), to: partial)
            } catch let error as DiskFormatError {
                unlink(partial)
                throw Failure("cannot re-link \(move.from)'s copy: \(error.message)")
            } catch {
                unlink(partial)
                throw error as? Failure ?? Failure("\(error)")
            }
            try verify(partial, like: source, parent: parent, as: move.to, what: "the re-linked copy of \(move.from)")
        }
        guard rename(partial, move.to) == 0 else { throw Failure("cannot rename \(partial): \(errorText())") }
        try flushDirectory(of: move.to)
        return Moved(
            from: move.from,
            to: move.to,
            size: source.size,
            checksum: copied,
            parent: parent,
            wasThere: false
        )
    }

    /// The file at `path` is the same disk as the original (format, identity, size, linkage) and, when `parent` is
    /// given, its locator leads (from `location`, where it will live) to `parent`.
    private func verify(
        _ path: String,
        like source: Source,
        parent: String?,
        as location: String? = nil,
        what: String
    ) throws(Failure) {
        let opened: FileByteSource?
        do { opened = try FileByteSource(path: path) } catch { throw Failure(error.message) }
        guard let file = opened else { throw Failure("\(what) does not exist") }
        guard Int64(clamping: file.size) == source.size else {
            throw Failure("\(what) has \(file.size) bytes, the original \(source.size): it is not a copy of it")
        }
        let info = Self.diskInfo(file, name: location ?? path)
        guard let expected = source.info else {
            if info == nil || location == nil { return }
            throw Failure("\(what) is a disk; the original is not")
        }
        guard let info, info.format == expected.format, info.identifier == expected.identifier,
            info.virtualSize == expected.virtualSize,
            info.parent?.identifier == expected.parent?.identifier,
            info.parent?.backingFormat == expected.parent?.backingFormat
        else { throw Failure("\(what) is not the same disk as the original (format, identity, size or linkage)") }
        guard let parent, let reference = info.parent else { return }
        let candidates = ParentCandidates.list(
            for: reference,
            childPath: location ?? path,
            format: info.format,
            pathMap: pathMap
        )
        guard let first = candidates.compactMap(\.localPath).first, canonical(first) == canonical(parent) else {
            throw Failure("\(what) does not lead to its parent \(parent)")
        }
    }

    /// Copies `from` to a new `to` (replacing a leftover), flushed; returns the CRC-32C of the bytes read.
    private func copy(_ from: String, to: String) throws(Failure) -> UInt32 {
        let output = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw Failure("cannot create \(to): \(errorText())") }
        defer { close(output) }
        let (crc, length) = try read(from) { (piece: UnsafeRawBufferPointer, offset: off_t) throws(Failure) in
            // All-zero pieces are left as holes: the copy stays as sparse as the original.
            guard let base = piece.baseAddress, piece.contains(where: { $0 != 0 }) else { return }
            var written = 0
            while written < piece.count {
                let step = pwrite(output, base + written, piece.count - written, offset + off_t(written))
                if step < 0 && errno == EINTR { continue }
                guard step > 0 else { throw Failure("cannot write \(to): \(errorText())") }
                written += step
            }
        }
        guard ftruncate(output, length) == 0, fsync(output) == 0 else {
            throw Failure("cannot flush \(to): \(errorText())")
        }
        return crc
    }

    private func checksum(_ path: String) throws(Failure) -> UInt32 {
        try read(path) { (_: UnsafeRawBufferPointer, _: off_t) throws(Failure) in }.crc
    }

    /// Reads `path` in `chunk`-sized pieces, handing each to `body` with its offset; the CRC-32C of it all and its
    /// length.
    private func read(
        _ path: String,
        _ body: (UnsafeRawBufferPointer, off_t) throws(Failure) -> Void
    ) throws(Failure) -> (crc: UInt32, length: off_t) {
        let input = open(path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw Failure("cannot open \(path): \(errorText())") }
        defer { close(input) }
        var buffer = [UInt8](repeating: 0, count: Self.chunk)
        var offset: off_t = 0
        var crc: UInt32 = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress, $0.count, offset) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw Failure("cannot read \(path): \(errorText())") }
            if count == 0 { return (crc, offset) }
            let handled = buffer.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Result<Void, Failure> in
                let piece = UnsafeRawBufferPointer(rebasing: raw[0..<count])
                crc = CRC32C.extend(crc, piece)
                return Result { () throws(Failure) in try body(piece, offset) }
            }
            try handled.get()
            offset += off_t(count)
        }
    }

    private func write(_ patches: [ParentRelink.Patch], to path: String) throws(Failure) {
        let output = open(path, O_WRONLY | O_CLOEXEC)
        guard output >= 0 else { throw Failure("cannot open \(path): \(errorText())") }
        defer { close(output) }
        for patch in patches {
            let written = patch.bytes.withUnsafeBytes { pwrite(output, $0.baseAddress, $0.count, off_t(patch.offset)) }
            guard written == patch.bytes.count else { throw Failure("cannot write \(path): \(errorText())") }
        }
        guard fsync(output) == 0 else { throw Failure("cannot flush \(path): \(errorText())") }
    }

    private func flushDirectory(of path: String) throws(Failure) {
        let directory = open(LocalPath.directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw Failure("cannot open the directory of \(path): \(errorText())") }
        defer { close(directory) }
        guard fsync(directory) == 0 else { throw Failure("cannot flush the directory of \(path): \(errorText())") }
    }

    private func canonical(_ path: String) -> String {
        LocalFileSystem.canonicalPath(path) ?? LocalPath.normalize(path)
    }
    private func errorText() -> String { String(cString: strerror(errno)) }
    private func hex(_ value: UInt32) -> String { String(value, radix: 16) }
}
