import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What checkpoint operations need of a domain (issue 24): external snapshots, block commit, block pull, block jobs.
extension LibvirtDomain {
    /// `virDomainSnapshotCreateXML` flags.
    public struct SnapshotFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let diskOnly = SnapshotFlags(rawValue: 1 << 4)
        public static let atomic = SnapshotFlags(rawValue: 1 << 7)
    }

    /// Takes a snapshot described by `xml` (external overlays and memory placed as it says).
    public func createSnapshot(xml: String, flags: SnapshotFlags) throws(LibvirtError) {
        guard let snapshot = library.domainSnapshotCreateXML(pointer, xml, flags.rawValue) else {
            throw connection.failure("cannot create the snapshot of \(name)")
        }
        _ = library.domainSnapshotFree(snapshot)
    }

    /// `virDomainBlockCommit` flags.
    public struct CommitFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let shallow = CommitFlags(rawValue: 1 << 0)
        public static let active = CommitFlags(rawValue: 1 << 2)
    }

    /// Starts merging `top` into `base` on the disk `target` (`vda`).
    ///
    /// `top` nil is the active layer; `bandwidth` is in MiB/s, 0 for no limit.
    public func blockCommit(
        target: String,
        base: String,
        top: String?,
        flags: CommitFlags,
        bandwidth: Int = 0
    ) throws(LibvirtError) {
        guard library.domainBlockCommit(pointer, target, base, top, UInt(max(0, bandwidth)), flags.rawValue) == 0 else {
            throw connection.failure("cannot start merging \(top ?? "the active layer") into \(base) on \(name)")
        }
    }

    /// Starts streaming the backing chain down to (not including) `base` into the active layer of `target`, which
    /// then backs onto `base` (`virDomainBlockRebase`; nil: the whole chain, the active layer stands alone).
    public func blockPull(target: String, base: String?, bandwidth: Int = 0) throws(LibvirtError) {
        guard library.domainBlockRebase(pointer, target, base, UInt(max(0, bandwidth)), 0) == 0 else {
            throw connection.failure("cannot start streaming into the active layer of \(target) on \(name)")
        }
    }

    /// Starts a shallow block copy of the active layer of `target` onto `destination`, an existing qcow2 the caller
    /// made over the right backing file; the job becomes ready when both are in step and the caller pivots.
    ///
    /// `virDomainBlockCopy` with `SHALLOW | REUSE_EXT | TRANSIENT_JOB`: the last is what libvirt asks of a persistent
    /// domain (a copy is not carried across a restart of the domain; a repair that sees no job starts it again).
    public func blockCopy(target: String, onto destination: String, format: String) throws(LibvirtError) {
        let escaped = destination.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(
            of: "'",
            with: "&apos;"
        )
        .replacingOccurrences(of: "<", with: "&lt;")
        let driver = format == "raw" ? "raw" : "qcow2"
        let xml = "<disk type='file'><source file='\(escaped)'/><driver type='\(driver)'/></disk>"
        let flags: UInt32 = 1 << 0 | 1 << 1 | 1 << 2
        guard library.domainBlockCopy(pointer, target, xml, nil, 0, flags) == 0 else {
            throw connection.failure("cannot start copying the active layer of \(target) of \(name) to \(destination)")
        }
    }

    /// Changes a device of the running domain (`virDomainUpdateDeviceFlags`, live only): a CD-ROM's medium.
    public func updateLiveDevice(xml: String) throws(LibvirtError) {
        guard library.domainUpdateDeviceFlags(pointer, xml, 1) == 0 else {
            throw connection.failure("cannot change a device of \(name)")
        }
    }

    /// A block job's progress: `nil` when none runs on the disk.
    public struct BlockJob: Sendable, Equatable {
        /// `VIR_DOMAIN_BLOCK_JOB_TYPE_*`: 1 pull, 3 commit, 4 active commit.
        public var type: Int32
        public var current: UInt64
        public var end: UInt64
        /// Copied everything: an active commit waits for its pivot.
        public var ready: Bool { end > 0 && current == end }
    }

    public func blockJob(target: String) throws(LibvirtError) -> BlockJob? {
        // virDomainBlockJobInfo: int type; unsigned long bandwidth; unsigned long long cur; unsigned long long end.
        var buffer = [UInt64](repeating: 0, count: 4)
        let found = buffer.withUnsafeMutableBytes { library.domainGetBlockJobInfo(pointer, target, $0.baseAddress, 0) }
        guard found >= 0 else { throw connection.failure("cannot read the block job of \(target) on \(name)") }
        guard found == 1 else { return nil }
        let type = Int32(truncatingIfNeeded: buffer[0] & 0xFFFF_FFFF)
        return BlockJob(type: type, current: buffer[2], end: buffer[3])
    }

    /// Ends the block job on `target`: `pivot` switches the disk to the job's result (an active commit's base).
    public func finishBlockJob(target: String, pivot: Bool) throws(LibvirtError) {
        guard library.domainBlockJobAbort(pointer, target, pivot ? 1 << 1 : 0) == 0 else {
            throw connection.failure("cannot \(pivot ? "pivot" : "end") the block job of \(target) on \(name)")
        }
    }
}
