import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Tells the agent when libvirt changed what it reads (issue 23: reports on libvirt's events, not only on rescans).
///
/// libvirt's API has lifecycle events but none for snapshots; what it does keep for every define, undefine, snapshot
/// create, delete or revert, and every start and stop, is its own XML: the persistent definitions (`domains`), each
/// domain's snapshot directory (`snapshots/NAME/`) and the live state (`live`). So the agent watches those directories
/// with inotify (a file written and renamed into place, a file removed, a domain's snapshot directory created) and
/// rescans half a second after the last change, which covers all of them with one mechanism and no libvirt connection.
final class LibvirtWatch: Sendable {
    private let descriptor: Int32
    private let snapshots: String
    private let stopped = Atomic<Bool>(false)
    /// Watch descriptor → directory; confined to the watching thread after `init`.
    private let directories = Mutex<[Int32: String]>([:])

    private static let fileEvents: UInt32 = 0x8 | 0x40 | 0x80 | 0x100 | 0x200  // CLOSE_WRITE, MOVED_*, CREATE, DELETE
    private static let isDirectory: UInt32 = 0x4000_0000

    /// Watches `domains`, `snapshots` with each domain's directory in it, and `live`; `nil` when inotify is not
    /// available (the agent then reports on rescans alone).
    init?(domains: String, snapshots: String, live: String?) {
        let descriptor = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
        self.snapshots = snapshots
        for directory in [domains, snapshots] + (live.map { [$0] } ?? []) { add(directory) }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: snapshots)) ?? [] {
            add((snapshots as NSString).appendingPathComponent(name))
        }
    }

    deinit { close(descriptor) }

    private func add(_ directory: String) {
        let watch = inotify_add_watch(descriptor, directory, Self.fileEvents)
        if watch >= 0 { directories.withLock { $0[watch] = directory } }
    }

    /// Runs on a thread of its own until `stop`: calls `changed` after each burst of changes to libvirt's XML.
    func start(changed: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while !stopped.load(ordering: .relaxed) {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 1000) > 0 else { continue }
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                guard count > 0 else { continue }
                if handle(buffer, count: count) { changed() }
            }
        }
        thread.name = "libvirt-watch"
        thread.start()
    }

    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Reads the events in `buffer`; whether any concerns libvirt's XML.
    ///
    /// A directory created in `snapshots` (a domain's first snapshot) is watched from now on.
    private func handle(_ buffer: [UInt8], count: Int) -> Bool {
        var offset = 0
        var relevant = false
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= count {
            let (watch, mask, length) = buffer.withUnsafeBytes { raw in
                let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                return (event.wd, event.mask, Int(event.len))
            }
            let nameBytes = buffer[(offset + header)..<min(count, offset + header + length)]
            let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
            offset += header + length
            let directory = directories.withLock { $0[watch] }
            if mask & Self.isDirectory != 0 {
                if directory == snapshots, mask & 0x100 != 0 {
                    add((snapshots as NSString).appendingPathComponent(name))
                    relevant = true
                }
            } else if name.hasSuffix(".xml") {
                relevant = true
            }
        }
        return relevant
    }
}
