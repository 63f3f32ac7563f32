import ClusterAPI
import Crypto
import DiskFormats
import Foundation
import LibvirtClient
import Synchronization

/// The built-in libvirt hand-off (issue 23, SPEC §4 `uri`, `peerURI`, `unsafeMigration`).
///
/// What `release` and `adopt` do on a libvirt node when no hook overrides them. Every call blocks; `AgentService` runs
/// them off the cooperative pool.
///
/// - release (the source, a migration): checks that the coordinator's copy of the domain and snapshot XML is what
///   this host has now, removes the snapshot metadata (children first; libvirt refuses to migrate a domain that has
///   any), then live-migrates a running or paused domain peer to peer to the target's `peerURI`, persistent there and
///   undefined here; a shut-off domain is only undefined here (the target defines it). If anything fails, the snapshot
///   metadata is put back and the domain stays where it was, running: a cold move is never a silent fallback.
/// - release with `--offline`: saves the domain's state beside its first leaf and undefines it; never a fallback.
/// - adopt (the target): defines the domain from the coordinator's copy unless it runs here (after a live migration
///   it does), redefines every snapshot in tree order (metadata only; no disk is touched) with the current one marked,
///   then restores an offline move's saved state, or starts the domain when it was running (paused when it was paused)
///   on a failover or when this adopt defined it. A failover's adopt first waits for the source's libvirt, when it
///   answers, to show the domain stopped.
/// - adopt back (the source, after a failed hand-off): first asks the target's libvirt whether the domain runs there;
///   if it does, adopting back would run it twice, so it refuses.
struct LibvirtHandOff: Sendable {
    let settings: AgentConfig.LibvirtSettings
    let node: String

    struct Failure: Error {
        var message: String
    }

    func release(_ command: AgentCommand, current: HypervisorMetadata?) throws(Failure) -> String {
        let connection = try connect(settings.uri)
        guard let domain = connection.domain(uuid: command.vmId) else {
            if let targetURI = command.targetURI, Self.ask(targetURI, { $0.domain(uuid: command.vmId) != nil }) == true
            {
                return "\(command.vmName) is already defined on \(command.target)'s libvirt: released before"
            }
            throw Failure(message: "\(command.vmName) (\(command.vmId)) is not defined in \(settings.uri)")
        }
        guard let expected = command.metadataDigest else {
            throw Failure(
                message: "the coordinator holds no libvirt metadata for \(command.vmName): the target could not "
                    + "redefine its snapshots, so it is not released"
            )
        }
        guard let digest = current?.digest(sha256: { SHA256.hash(data: $0) }), digest == expected else {
            throw Failure(
                message: "\(command.vmName)'s domain or snapshot XML changed since the coordinator's copy "
                    + "(\(expected)); the agent uploads the new one with its next report: try again in a few seconds"
            )
        }
        guard let targetURI = command.targetURI else {
            throw Failure(message: "\(command.target) reported no libvirt URI (inventory.peerURI) to migrate to")
        }
        let state: LibvirtDomain.State
        let snapshots: [LibvirtDomain.Snapshot]
        do throws(LibvirtError) {
            state = try domain.state()
            snapshots = try domain.snapshots()
        } catch {
            throw Failure(message: error.message)
        }
        var removed: [LibvirtDomain.Snapshot] = []
        var savedTo: String?
        do throws(LibvirtError) {
            for snapshot in snapshots.reversed() {
                try domain.deleteSnapshotMetadata(snapshot.name)
                removed.append(snapshot)
            }
            switch state {
            case .running where command.offline == true, .paused where command.offline == true:
                guard let path = Self.savePath(vmId: command.vmId, leaves: current?.leaves ?? []) else {
                    throw LibvirtError(code: .callFailed, message: "\(command.vmName) has no disk to save beside")
                }
                try domain.save(to: path, paused: state == .paused)
                savedTo = path
                try domain.undefine()
                return "\(command.vmName) stopped (state saved to \(path)) and undefined here; \(command.target) "
                    + "restores it (--offline)"
            case .running, .paused:
                var flags: LibvirtDomain.MigrationFlags = [
                    .live, .peerToPeer, .tunnelled, .persistDestination, .undefineSource,
                ]
                if settings.unsafeMigration { flags.insert(.unsafe) }
                try domain.migrate(to: targetURI, flags: flags)
                return "\(command.vmName) live-migrated to \(targetURI) (\(state.rawValue)); \(snapshots.count) "
                    + "snapshot(s) to redefine there"
            case .off:
                try domain.undefine()
                return "\(command.vmName) (shut off) undefined here; \(command.target) defines it"
            }
        } catch {
            // A saved domain runs again from its file before anything else is put back.
            if let savedTo, (try? domain.state()) == .off {
                try? connection.restore(from: savedTo)
                try? FileManager.default.removeItem(atPath: savedTo)
            }
            // Children were removed first, so parents go back first.
            for snapshot in removed.reversed() {
                try? domain.redefineSnapshot(xml: snapshot.xml, current: snapshot.current)
            }
            throw Failure(message: "\(error.message); the domain stays on \(node) with its snapshot metadata")
        }
    }

    func adopt(_ command: AgentCommand) throws(Failure) -> String {
        guard let definition = command.definition else { throw Failure(message: "the adopt carried no definition") }
        let connection = try connect(settings.uri)
        let adoptingBack = command.source == node && command.target != node
        var existing = connection.domain(uuid: command.vmId)
        let active = (try? existing?.state()).map { $0 != .off } ?? false
        if adoptingBack, !active, let targetURI = command.targetURI,
            Self.stillRuns(command.vmId, at: targetURI, waiting: .zero)
        {
            throw Failure(
                message: "\(command.vmName) runs on \(command.target)'s libvirt (\(targetURI)); adopting it back "
                    + "here would run it twice"
            )
        }
        if command.failover == true, !active, let sourceURI = command.sourceURI {
            // The source's libvirt, when it still answers, must show the domain stopped: its watchdog's fence may be
            // finishing (each destroy waits for its QEMU), and starting it here before would run it twice.
            if Self.stillRuns(command.vmId, at: sourceURI, waiting: .seconds(10)) {
                throw Failure(
                    message: "\(command.vmName) still runs on \(command.source)'s libvirt (\(sourceURI)) 10 s after "
                        + "the node was declared fenced: the fence did not stop it, so it is not started here"
                )
            }
        }
        guard let metadata = definition.metadata else {
            if existing != nil { return "\(command.vmName) is defined here; no metadata to redefine" }
            throw Failure(message: "the coordinator holds no libvirt metadata for \(command.vmName) to define it")
        }
        do throws(LibvirtError) {
            // Unless it runs here (a live migration brought it), the definition is the coordinator's copy: a copy
            // left on this host by an earlier owner may name leaves that are backing files by now.
            let definedHere = !active
            if definedHere {
                existing = try connection.define(xml: metadata.domainXML)
            }
            guard let domain = existing else { throw LibvirtError(code: .callFailed, message: "define failed") }
            // Every snapshot, in tree order; a redefine replaces the metadata of one already here.
            for snapshot in metadata.snapshots {
                try domain.redefineSnapshot(xml: snapshot.xml, current: snapshot.current)
            }
            var started = ""
            let wanted = definition.state == "Running" || definition.state == "Paused"
            let saved = Self.savePath(vmId: command.vmId, leaves: metadata.leaves)
            if let saved, FileManager.default.fileExists(atPath: saved), try domain.state() == .off {
                // An offline move (or its adopt back): the state the source saved.
                try connection.restore(from: saved)
                try? FileManager.default.removeItem(atPath: saved)
                started = ", restored from \(saved)"
            } else if command.failover == true || adoptingBack || definedHere, wanted, try domain.state() == .off {
                try domain.start(paused: definition.state == "Paused")
                started = ", started"
            }
            return "\(command.vmName) defined on \(node)'s libvirt with \(metadata.snapshots.count) snapshot(s)"
                + started
        } catch {
            throw Failure(message: error.message)
        }
    }

    /// After a readmission: the definitions this host still keeps of VMs another node owns now.
    ///
    /// They failed over while this node was fenced. A shut-off one is undefined with its snapshot metadata (no file is
    /// touched: the new owner runs on them); one that runs here is left alone and named, for an administrator.
    func forget(_ vmIds: [String]) -> (forgotten: [String], running: [String]) {
        guard let connection = try? LibvirtConnection(uri: settings.uri) else { return ([], []) }
        var forgotten: [String] = []
        var running: [String] = []
        for id in vmIds {
            guard let domain = connection.domain(uuid: id), let state = try? domain.state() else { continue }
            let name = domain.name
            if state != .off {
                running.append(name)
            } else if (try? domain.undefine(snapshotMetadata: true)) != nil {
                forgotten.append(name)
            }
        }
        return (forgotten, running)
    }

    /// Whether the domain is active on the libvirt at `uri` and stays so for `waiting`, asked every 250 ms; `false` as
    /// soon as it is stopped or gone, and when that libvirt does not answer within 3 s (a dead host: its disks are
    /// guarded by the lock manager, and the failover goes on).
    static func stillRuns(_ uuid: String, at uri: String, waiting: Duration) -> Bool {
        let deadline = ContinuousClock.now + waiting
        while true {
            guard let active = ask(uri, { ($0.domain(uuid: uuid).flatMap { try? $0.state() } ?? .off) != .off }) else {
                return false
            }
            guard active, ContinuousClock.now < deadline else { return active }
            Thread.sleep(forTimeInterval: 0.25)
        }
    }

    /// Asks another host's libvirt, giving up after `seconds` (a TCP connection to a dead host can hang for minutes):
    /// `nil` when it did not answer in time or refused the connection.
    static func ask<T: Sendable>(
        _ uri: String,
        seconds: Double = 3,
        _ question: @escaping @Sendable (LibvirtConnection) -> T
    ) -> T? {
        let answer = Mutex<T?>(nil)
        let asked = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            if let connection = try? LibvirtConnection(uri: uri) {
                let result = question(connection)
                answer.withLock { $0 = result }
            }
            asked.signal()
        }
        guard asked.wait(timeout: .now() + seconds) == .success else { return nil }
        return answer.withLock { $0 }
    }

    /// Where an offline move saves the domain's state: beside its first leaf, on a volume the target reaches (the
    /// strand rule checked that), the same path on every host.
    static func savePath(vmId: String, leaves: [String]) -> String? {
        guard let leaf = leaves.first, leaf.hasPrefix("/"), !vmId.contains("/") else { return nil }
        return LocalPath.join(LocalPath.directory(of: leaf), ".chainkeeper-\(vmId).save")
    }

    /// The target's own checks of a libvirt hand-off (preflight): libvirt answers, and every secret the domain refers
    /// to is defined here.
    func preflight(_ definition: VMDefinition) -> [ReasonJSON] {
        guard let metadata = definition.metadata else { return [] }
        let connection: LibvirtConnection
        do {
            connection = try connect(settings.uri)
        } catch {
            return [ReasonJSON(code: "libvirt-unreachable", message: error.message)]
        }
        return metadata.secrets.filter { secret in
            !connection.hasSecret(
                uuid: secret.uuid,
                usage: secret.usageId.map { (type: secret.usageType ?? "volume", id: $0) }
            )
        }.map { secret in
            ReasonJSON(
                code: "secret-missing",
                message: "\(definition.name) needs libvirt secret \(secret.description), which is not defined on "
                    + "\(node) (`virsh secret-define` and `virsh secret-set-value` there first)"
            )
        }
    }

    private func connect(_ uri: String) throws(Failure) -> LibvirtConnection {
        do {
            return try LibvirtConnection(uri: uri)
        } catch {
            throw Failure(message: error.message)
        }
    }
}
