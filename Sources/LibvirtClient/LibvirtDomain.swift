import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A domain of a `LibvirtConnection`.
public final class LibvirtDomain: @unchecked Sendable {
    public let connection: LibvirtConnection
    let pointer: OpaquePointer
    var library: LibvirtLibrary { connection.library }

    init(connection: LibvirtConnection, pointer: OpaquePointer) {
        self.connection = connection
        self.pointer = pointer
    }

    deinit { _ = library.domainFree(pointer) }

    /// `virDomainState`, folded to what a hand-off needs.
    public enum State: String, Sendable {
        case running, paused, off
    }

    /// A snapshot's name, its XML (never with security information) and whether it is the current one.
    public struct Snapshot: Sendable, Equatable {
        public var name: String
        public var xml: String
        public var current: Bool
    }

    public var name: String { library.domainGetName(pointer).map { String(cString: $0) } ?? "" }

    public var uuid: String {
        var buffer = [CChar](repeating: 0, count: 37)
        guard library.domainGetUUIDString(pointer, &buffer) == 0 else { return "" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var persistent: Bool { library.domainIsPersistent(pointer) == 1 }

    public func state() throws(LibvirtError) -> State {
        var state: Int32 = 0
        var reason: Int32 = 0
        guard library.domainGetState(pointer, &state, &reason, 0) == 0 else {
            throw connection.failure("cannot read the state of \(name)")
        }
        // VIR_DOMAIN_RUNNING 1, BLOCKED 2, PAUSED 3, SHUTDOWN 4 (still running), PMSUSPENDED 7.
        switch state {
        case 1, 2, 4: return .running
        case 3, 7: return .paused
        default: return .off
        }
    }

    /// The domain's XML; `inactive` gives the persistent definition (`VIR_DOMAIN_XML_INACTIVE`), without secrets.
    public func xml(inactive: Bool) throws(LibvirtError) -> String {
        guard let text = library.domainGetXMLDesc(pointer, inactive ? 2 : 0) else {
            throw connection.failure("cannot read the XML of \(name)")
        }
        defer { free(text) }
        return String(cString: text)
    }

    /// Every snapshot, parents before children (`VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL`).
    public func snapshots() throws(LibvirtError) -> [Snapshot] {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let count = library.domainListAllSnapshots(pointer, &list, 1 << 10)
        guard count >= 0 else { throw connection.failure("cannot list the snapshots of \(name)") }
        defer {
            for index in 0..<Int(count) { _ = list?[index].map { library.domainSnapshotFree($0) } }
            free(list)
        }
        var found: [Snapshot] = []
        for index in 0..<Int(count) {
            guard let snapshot = list?[index] else { continue }
            let name = library.domainSnapshotGetName(snapshot).map { String(cString: $0) } ?? ""
            guard let text = library.domainSnapshotGetXMLDesc(snapshot, 0) else {
                throw connection.failure("cannot read snapshot \(name) of \(self.name)")
            }
            defer { free(text) }
            found.append(
                Snapshot(
                    name: name,
                    xml: String(cString: text),
                    current: library.domainSnapshotIsCurrent(snapshot, 0) == 1
                )
            )
        }
        return found
    }

    /// Removes a snapshot's metadata only (`VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY`): no disk is touched.
    public func deleteSnapshotMetadata(_ snapshotName: String) throws(LibvirtError) {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let count = library.domainListAllSnapshots(pointer, &list, 0)
        guard count >= 0 else { throw connection.failure("cannot list the snapshots of \(name)") }
        defer {
            for index in 0..<Int(count) { _ = list?[index].map { library.domainSnapshotFree($0) } }
            free(list)
        }
        for index in 0..<Int(count) {
            guard let snapshot = list?[index],
                library.domainSnapshotGetName(snapshot).map({ String(cString: $0) }) == snapshotName
            else { continue }
            guard library.domainSnapshotDelete(snapshot, 1 << 1) == 0 else {
                throw connection.failure("cannot remove the metadata of snapshot \(snapshotName) of \(name)")
            }
            return
        }
    }

    /// Redefines a snapshot from its XML (`VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE`, and `_CURRENT` for the current one):
    /// metadata only, no disk is touched.
    public func redefineSnapshot(xml: String, current: Bool) throws(LibvirtError) {
        guard let snapshot = library.domainSnapshotCreateXML(pointer, xml, current ? 3 : 1) else {
            throw connection.failure("cannot redefine a snapshot of \(name)")
        }
        _ = library.domainSnapshotFree(snapshot)
    }

    /// `virDomainMigrateToURI` with `VIR_MIGRATE_PEER2PEER`: `destination` is the target's libvirt URI.
    public func migrate(to destination: String, flags: MigrationFlags) throws(LibvirtError) {
        guard library.domainMigrateToURI(pointer, destination, UInt(flags.rawValue), nil, 0) == 0 else {
            throw connection.failure("cannot migrate \(name) to \(destination)")
        }
    }

    /// Starts the domain; `paused` leaves its vCPUs stopped (`VIR_DOMAIN_START_PAUSED`).
    public func start(paused: Bool) throws(LibvirtError) {
        guard library.domainCreateWithFlags(pointer, paused ? 1 : 0) == 0 else {
            throw connection.failure("cannot start \(name)")
        }
    }

    /// Saves the running domain's memory and device state to `path` and stops it (`virDomainSaveFlags`); a restore
    /// starts it paused when `paused` (`VIR_DOMAIN_SAVE_PAUSED`), running otherwise (`VIR_DOMAIN_SAVE_RUNNING`).
    public func save(to path: String, paused: Bool) throws(LibvirtError) {
        guard library.domainSaveFlags(pointer, path, nil, paused ? 1 << 2 : 1 << 1) == 0 else {
            throw connection.failure("cannot save \(name) to \(path)")
        }
    }

    /// Hard-stops the domain (`virDomainDestroy`): the fence.
    public func destroy() throws(LibvirtError) {
        guard library.domainDestroy(pointer) == 0 else { throw connection.failure("cannot destroy \(name)") }
    }

    /// Removes the persistent definition, keeping the NVRAM file (`VIR_DOMAIN_UNDEFINE_KEEP_NVRAM`).
    ///
    /// With `snapshotMetadata`, its snapshots' metadata goes too (`VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA`). No disk is
    /// touched.
    public func undefine(snapshotMetadata: Bool = false) throws(LibvirtError) {
        guard library.domainUndefineFlags(pointer, 1 << 3 | (snapshotMetadata ? 1 << 1 : 0)) == 0 else {
            throw connection.failure("cannot undefine \(name)")
        }
    }

    /// `virDomainMigrateFlags`.
    public struct MigrationFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let live = MigrationFlags(rawValue: 1 << 0)
        public static let peerToPeer = MigrationFlags(rawValue: 1 << 1)
        public static let tunnelled = MigrationFlags(rawValue: 1 << 2)
        public static let persistDestination = MigrationFlags(rawValue: 1 << 3)
        public static let undefineSource = MigrationFlags(rawValue: 1 << 4)
        public static let unsafe = MigrationFlags(rawValue: 1 << 9)
    }
}
