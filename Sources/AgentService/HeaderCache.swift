import ChainModel
import DiskAccess
import DiskFormats

/// The real file system with a memory of headers: a file whose identity, size and modification time are unchanged
/// since its last parse is answered from the cache, so a rescan re-parses only files that changed.
///
/// Not thread-safe: the agent confines it to its scan queue.
final class HeaderCache: ChainFileSystem {
    private var entries: [String: CachedHeader]
    private let base = LocalFileSystem()
    /// Headers parsed since the last `takeChanges`, to persist.
    private var changed: [String: CachedHeader] = [:]
    /// Every file whose header was asked for since the last `takeChanges`.
    private var seen: Set<String> = []
    private(set) var hits = 0
    private(set) var parses = 0

    init(_ entries: [String: CachedHeader]) { self.entries = entries }

    func open(_ path: String) throws(DiskFormatError) -> OpenedFile? { try base.open(path) }

    func readInfo(of file: OpenedFile, path: String, as format: DiskFormat?) throws(DiskFormatError) -> DiskImageInfo {
        let key = file.canonicalPath
        seen.insert(key)
        if let cached = entries[key], let modified = file.modifiedNanoseconds, cached.identity == file.identity,
            cached.size == file.source.size, cached.modifiedNanoseconds == modified,
            format == nil || cached.info.format == format
        {
            hits += 1
            return cached.info
        }
        let info =
            if let format {
                try DiskImageReader.read(file.source, as: format)
            } else {
                try DiskImageReader.read(file.source, name: path)
            }
        parses += 1
        if let modified = file.modifiedNanoseconds {
            let header = CachedHeader(
                path: key,
                identity: file.identity,
                size: file.source.size,
                modifiedNanoseconds: modified,
                info: info
            )
            entries[key] = header
            changed[key] = header
        }
        return info
    }

    /// The headers parsed and the files seen since the last call, then starts afresh; entries not seen are dropped.
    func takeChanges() -> (changed: [CachedHeader], seen: Set<String>, hits: Int, parses: Int) {
        let result = (Array(changed.values), seen, hits, parses)
        entries = entries.filter { seen.contains($0.key) }
        changed = [:]
        seen = []
        hits = 0
        parses = 0
        return result
    }
}
