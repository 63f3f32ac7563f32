import Agent
import ChainModel
import ClusterAPI
import DiskAccess
import DiskFormats
import Foundation
import LibvirtClient

/// `repair` through libvirt (issue 25), on the VM's owner: the stranded files, and the disks above them, move to the
/// folder the coordinator planned while the domain keeps running.
///
/// 1. copy, verify and re-link every file the running domain does not write (`ChainRelocator`: a base or middle disk
///    is open read-only and does not change; a memory file, a shut-off domain's disks, a medium);
/// 2. a running disk's active layer: a new qcow2 over its backing file's new place, a shallow block copy onto it
///    (`COPY | SHALLOW | REUSE_EXT`) and a pivot, so the guest never stops;
/// 3. the persistent definition and every snapshot's XML (overlays, captured disks, memory file) redefined with the new
///    paths; a CD-ROM's medium changed in the running domain;
/// 4. libvirt checked to name no old file any more; then, unless `keepOld`, the originals removed.
///
/// Until step 2 the domain runs on the untouched originals; from then on on the verified copies. Each step reads
/// where libvirt and the files are first, so a repeat after a crash of the agent or of the coordinator finishes it:
/// a copy in place is verified and kept, a block copy that runs is waited for, a pivoted disk is left alone, an XML
/// already rewritten has nothing left to replace.
struct LibvirtRepair: LibvirtDriver {
    let settings: AgentConfig.LibvirtSettings
    let node: String
    let pathMap: PathMap
    /// The agent's volume directories: a copy is only ever written inside one of them.
    let volumes: [String]
    var qemuImg = "/usr/bin/qemu-img"
    var jobLimit: Duration = .seconds(3600)

    /// Why the repair cannot be carried out here, before anything is touched.
    func preflight(_ command: AgentCommand, order: CheckpointOrder) -> [ReasonJSON] {
        let moves = order.moves ?? []
        guard !moves.isEmpty else {
            return [ReasonJSON(code: "repair-empty", message: "the repair names no file to move")]
        }
        var reasons: [ReasonJSON] = []
        do throws(Failure) {
            let domain = try self.domain(command)
            let running = try call { () throws(LibvirtError) in try domain.state() } != .off
            if running {
                for disk in try fileDisks(try call { () throws(LibvirtError) in try domain.xml(inactive: false) })
                where try call({ () throws(LibvirtError) in try domain.blockJob(target: disk.target) }) != nil
                    && !moves.contains(where: { $0.to == disk.source || $0.from == disk.source })
                {
                    reasons.append(
                        ReasonJSON(
                            code: "operation-in-progress",
                            message: "a block job runs on \(disk.target) of \(domain.name); wait for it to finish"
                        )
                    )
                }
            }
        } catch {
            return [ReasonJSON(code: "repair-failed", message: error.message)]
        }
        let roots = volumes.map { LocalFileSystem.canonicalPath($0) ?? LocalPath.normalize($0) }
        for move in moves {
            let directory = LocalFileSystem.canonicalPath(Self.existingDirectory(of: move.to)) ?? move.to
            let target = LocalPath.normalize(move.to)
            guard target == move.to, roots.contains(where: { LocalPath.isInside(directory, root: $0) }) else {
                reasons.append(
                    ReasonJSON(
                        code: "volume-not-verified",
                        message:
                            "\(move.to) is not inside a volume directory of \(node)'s agent; nothing is written there",
                        path: move.to
                    )
                )
                continue
            }
        }
        for move in moves where !FileManager.default.fileExists(atPath: move.from) {
            // A repeat after the originals were removed finds the copy instead.
            guard !FileManager.default.fileExists(atPath: move.to) else { continue }
            reasons.append(
                ReasonJSON(code: "file-missing", message: "\(move.from) does not exist on \(node)", path: move.from)
            )
        }
        // Free space where the copies go, as this node sees it now.
        var needed: [String: Int64] = [:]
        for move in moves where !FileManager.default.fileExists(atPath: move.to) {
            needed[Self.existingDirectory(of: move.to), default: 0] += max(0, move.size)
        }
        for (directory, bytes) in needed {
            var status = statvfs()
            guard statvfs(directory, &status) == 0 else { continue }
            let free = Int64(
                clamping: UInt64(status.f_bavail).multipliedReportingOverflow(by: UInt64(status.f_frsize)).partialValue
            )
            if free < bytes {
                reasons.append(
                    ReasonJSON(
                        code: "volume-space-low",
                        message:
                            "\(directory) has \(free >> 20) MiB free on \(node); the copies need \(bytes >> 20) MiB"
                    )
                )
            }
        }
        return reasons
    }

    /// Carries out (or finishes) the repair; the message says what was done.
    func apply(_ command: AgentCommand, order: CheckpointOrder) throws(Failure) -> String {
        let moves = order.moves ?? []
        let map = Dictionary(moves.map { ($0.from, $0.to) }, uniquingKeysWith: { first, _ in first })
        let domain = try self.domain(command)
        let running = try call { () throws(LibvirtError) in try domain.state() } != .off
        let live = running ? try fileDisks(try call { () throws(LibvirtError) in try domain.xml(inactive: false) }) : []
        // The active layers the running domain writes: they move by block copy, not by file copy.
        let written = Set(live.map(\.source))
        let relocator = ChainRelocator(pathMap: pathMap)
        // A repeat after the switch (the agent died while removing the originals): libvirt names only the copies, and
        // an original whose parent is gone already cannot be described again; what is left is the removal.
        if try switched(domain, map) {
            return try finish(domain, order: order, moves: moves, relocator: relocator, done: ["already switched"])
        }
        let copies = moves.filter { !written.contains($0.from) && !written.contains($0.to) }
        let pending = copies.filter { FileManager.default.fileExists(atPath: $0.from) }
        var done: [String] = []
        do throws(ChainRelocator.Failure) {
            let moved = try relocator.relocate(pending.map { .init(from: $0.from, to: $0.to) })
            done += moved.map { "\($0.from) → \($0.to)" + ($0.wasThere ? " (already copied)" : "") }
        } catch {
            throw Failure(message: "nothing was switched; the VM runs on its original files: \(error.message)")
        }
        AgentFaultInjection.reached("repair-copied")

        for disk in live {
            guard let destination = map[disk.source] else { continue }
            done.append(try moveActiveLayer(domain, disk: disk, to: destination, map: map))
        }
        if running {
            let liveXML = try call { () throws(LibvirtError) in try domain.xml(inactive: false) }
            for medium in try media(liveXML) {
                guard let destination = map[medium.source] else { continue }
                let element = try replacing(medium.element, map)
                try call { () throws(LibvirtError) in try domain.updateLiveDevice(xml: element) }
                done.append("\(medium.target): medium \(medium.source) → \(destination)")
            }
        }
        let inactive = try call { () throws(LibvirtError) in try domain.xml(inactive: true) }
        if !(try names(inactive).isDisjoint(with: map.keys)) {
            let moved = try replacing(inactive, map)
            _ = try call { () throws(LibvirtError) in try domain.connection.define(xml: moved) }
        }
        for snapshot in try call({ () throws(LibvirtError) in try domain.snapshots() })
        where !(try names(snapshot.xml).isDisjoint(with: map.keys)) {
            let moved = try replacing(snapshot.xml, map)
            try call { () throws(LibvirtError) in try domain.redefineSnapshot(xml: moved, current: snapshot.current) }
        }
        AgentFaultInjection.reached("repair-switched")
        return try finish(domain, order: order, moves: moves, relocator: relocator, done: done)
    }

    /// Every file libvirt names for the domain: live and persistent definitions, every snapshot.
    private func named(_ domain: LibvirtDomain) throws(Failure) -> Set<String> {
        var named = try names(try call { () throws(LibvirtError) in try domain.xml(inactive: true) })
        if try call({ () throws(LibvirtError) in try domain.state() }) != .off {
            named.formUnion(try names(try call { () throws(LibvirtError) in try domain.xml(inactive: false) }))
        }
        for snapshot in try call({ () throws(LibvirtError) in try domain.snapshots() }) {
            named.formUnion(try names(snapshot.xml))
        }
        return named
    }

    /// Whether libvirt already runs and defines the domain on the copies: it names some new path and no old one.
    private func switched(_ domain: LibvirtDomain, _ map: [String: String]) throws(Failure) -> Bool {
        let named = try named(domain)
        return named.isDisjoint(with: map.keys) && !named.isDisjoint(with: map.values)
    }

    /// Step 4: libvirt must name no original any more; then the originals go, unless `keepOld`.
    private func finish(
        _ domain: LibvirtDomain,
        order: CheckpointOrder,
        moves: [CheckpointOrder.Move],
        relocator: ChainRelocator,
        done: [String]
    ) throws(Failure) -> String {
        let map = Dictionary(moves.map { ($0.from, $0.to) }, uniquingKeysWith: { first, _ in first })
        let stillNamed = try named(domain).intersection(map.keys)
        guard stillNamed.isEmpty else {
            throw Failure(
                message: "libvirt still names \(stillNamed.sorted().joined(separator: ", ")); the originals are kept"
            )
        }
        guard order.keepOld != true else {
            return "\(domain.name) repaired, originals kept: " + done.joined(separator: ", ")
        }
        do throws(ChainRelocator.Failure) {
            var removed: [String] = []
            for move in moves {
                removed += try relocator.removeOriginals([.init(from: move.from, to: move.to)])
                if removed.count == 1 { AgentFaultInjection.reached("repair-removing") }
            }
            return "\(domain.name) repaired: " + done.joined(separator: ", ") + "; removed \(removed.count) original(s)"
        } catch {
            throw Failure(
                message: "\(domain.name) runs on the copies, but an original was not removed: \(error.message)"
            )
        }
    }

    /// Moves the active layer of a running disk to `destination` with a shallow block copy and a pivot.
    private func moveActiveLayer(
        _ domain: LibvirtDomain,
        disk: LibvirtCheckpointXML.FileDisk,
        to destination: String,
        map: [String: String]
    ) throws(Failure) -> String {
        if disk.source == destination { return "\(disk.target): already runs on \(destination)" }
        let job = try call { () throws(LibvirtError) in try domain.blockJob(target: disk.target) }
        if job == nil {
            // A destination left by a run that never pivoted is made again: nothing runs on it.
            if FileManager.default.fileExists(atPath: destination) { try remove(destination) }
            let directory = LocalPath.directory(of: destination)
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw Failure(message: "cannot create \(directory): \(error.localizedDescription)")
            }
            // The same format as the disk it replaces: the definition's driver type stays as it is. A raw disk has
            // no backing file, so its copy is a full one.
            let kind = format(of: disk.source)
            let backing = kind == "qcow2" ? backingFile(of: disk.source) : nil
            var arguments = ["create", "-q", "-f", kind]
            if let backing {
                let newBacking = map[backing] ?? backing
                arguments += ["-F", format(of: newBacking), "-b", newBacking]
            }
            arguments += [destination, String(virtualSize(of: disk.source))]
            try run(arguments)
            try call { () throws(LibvirtError) in
                try domain.blockCopy(target: disk.target, onto: destination, format: kind)
            }
        }
        AgentFaultInjection.reached("repair-block-copy")
        try waitForPivot(domain, target: disk.target)
        return "\(disk.target): \(disk.source) → \(destination) (block copy, pivot)"
    }

    private func waitForPivot(_ domain: LibvirtDomain, target: String) throws(Failure) {
        let deadline = ContinuousClock.now + jobLimit
        while ContinuousClock.now < deadline {
            guard let job = try call({ () throws(LibvirtError) in try domain.blockJob(target: target) }) else { return }
            if job.ready {
                try call { () throws(LibvirtError) in try domain.finishBlockJob(target: target, pivot: true) }
                for _ in 0..<600 {
                    if try call({ () throws(LibvirtError) in try domain.blockJob(target: target) }) == nil { return }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                return
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw Failure(
            message: "the block copy of \(target) of \(domain.name) still runs after \(jobLimit); it goes on in QEMU "
                + "and the repair finishes it when it is sent again"
        )
    }

    // MARK: - Pieces

    static func existingDirectory(of path: String) -> String {
        var directory = LocalPath.directory(of: path)
        while directory != "/" && !FileManager.default.fileExists(atPath: directory) {
            directory = LocalPath.directory(of: directory)
        }
        return directory
    }

    /// A disk's virtual size: from its header, or a raw file's length.
    private func virtualSize(of path: String) -> UInt64 {
        guard let source = try? FileByteSource(path: path) else { return 0 }
        guard let info = try? DiskImageReader.read(source, name: path), info.format != .raw else { return source.size }
        return info.virtualSize
    }

    private func names(_ xml: String) throws(Failure) -> Set<String> {
        do throws(LibvirtCheckpointXML.Failure) {
            return try LibvirtRepairXML.files(in: xml)
        } catch {
            throw Failure(message: error.description)
        }
    }

    private func replacing(_ xml: String, _ map: [String: String]) throws(Failure) -> String {
        do throws(LibvirtCheckpointXML.Failure) {
            return try LibvirtRepairXML.replacingFiles(in: xml, map)
        } catch {
            throw Failure(message: error.description)
        }
    }

    private func media(_ xml: String) throws(Failure) -> [(target: String, source: String, element: String)] {
        do throws(LibvirtCheckpointXML.Failure) {
            return try LibvirtRepairXML.mediaDisks(of: xml)
        } catch {
            throw Failure(message: error.description)
        }
    }

}
