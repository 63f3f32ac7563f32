import Agent
import ChainModel
import ClusterAPI
import DiskAccess
import DiskFormats
import Foundation
import LibvirtClient

/// Checkpoint create, delete and revert through libvirt (issue 24), on the VM's owner.
///
/// Every call blocks; `AgentService` runs them off the cooperative pool. Each operation can be repeated after a crash of
/// the agent or of the coordinator at any point and finishes what the first run started, because it reads where
/// libvirt and the files are before acting: a snapshot that exists is taken, one that is gone is deleted, a block job
/// that runs is waited for (libvirtd and QEMU carry on without the agent), a domain defined on the new overlays is
/// reverted.
///
/// - create: an external snapshot (`virDomainSnapshotCreateXML`, atomic): for each current disk the coordinator
///   planned, a new qcow2 overlay at the path the location rule allowed, and the memory file there too with
///   `--memory`.
/// - delete: for each disk, the snapshot's overlay is merged into the file that holds the snapshot's state (block
///   commit: active with a pivot when the overlay is the running disk, plain when it is below it; `qemu-img commit`
///   and an unsafe rebase of its child when no process has it open); later snapshots that captured the overlay are
///   redefined onto the merged file; the overlay and the memory file are removed, then the metadata. At a branch point
///   (the state file backs several overlays, after a revert) nothing is written into the shared file: each child gets
///   the shared data streamed into it (a block pull for the running disk, `qemu-img rebase` for a file nothing has
///   open), and a child that the running domain uses below its active layer refuses the delete.
/// - revert: libvirt 9.0 cannot revert to an external snapshot, so: a new overlay on top of each disk state file,
///   the domain stopped and redefined onto them, restored from the snapshot's memory file when it has one (left shut
///   off when the snapshot is disk-only, as libvirt's own revert does), and the snapshot marked current. The state the
///   domain had before is kept on disk, never deleted.
struct LibvirtCheckpoints: LibvirtDriver {
    let settings: AgentConfig.LibvirtSettings
    let node: String
    var qemuImg = "/usr/bin/qemu-img"
    /// How long a block job may run before the operation gives up waiting (the job goes on in QEMU; a repeat waits
    /// for it again).
    var jobLimit: Duration = .seconds(3600)

    // MARK: - Preflight

    /// Why the operation cannot be carried out here, before anything is touched.
    func preflight(_ command: AgentCommand, order: CheckpointOrder) -> [ReasonJSON] {
        do throws(Failure) {
            let domain = try self.domain(command)
            let snapshots = try list(domain)
            switch order.action {
            case .create:
                if snapshots.contains(where: { $0.name == order.checkpoint }) { return [] }
                return try createProblems(domain, order: order)
            case .delete:
                guard let snapshot = snapshots.first(where: { $0.name == order.checkpoint }) else { return [] }
                return try deleteProblems(domain, snapshot: snapshot, all: snapshots, order: order)
            case .revert:
                guard let snapshot = snapshots.first(where: { $0.name == order.checkpoint }) else {
                    return [
                        ReasonJSON(
                            code: "checkpoint-missing",
                            message: "\(command.vmName) has no snapshot \(order.checkpoint) in libvirt on \(node)"
                        )
                    ]
                }
                let shape = try shape(snapshot)
                guard !shape.captured.isEmpty else {
                    return [
                        ReasonJSON(
                            code: "checkpoint-unsupported",
                            message: "snapshot \(order.checkpoint) captured no file disks; only external snapshots of "
                                + "file disks are reverted by Chainkeeper"
                        )
                    ]
                }
                return shape.captured.values.sorted().compactMap { file in
                    FileManager.default.fileExists(atPath: file)
                        ? nil
                        : ReasonJSON(
                            code: "file-missing",
                            message: "\(file), the disk state of snapshot \(order.checkpoint), does not exist",
                            path: file
                        )
                }
            case .repair:
                return [ReasonJSON(code: "repair-failed", message: "a repair is LibvirtRepair's, not a checkpoint's")]
            }
        } catch {
            return [ReasonJSON(code: "libvirt-unreachable", message: error.message)]
        }
    }

    private func createProblems(_ domain: LibvirtDomain, order: CheckpointOrder) throws(Failure) -> [ReasonJSON] {
        var reasons: [ReasonJSON] = []
        let disks = try liveDisks(domain)
        let state = try call { () throws(LibvirtError) in try domain.state() }
        for file in order.files ?? [] {
            if FileManager.default.fileExists(atPath: file.path) {
                reasons.append(
                    ReasonJSON(
                        code: "file-exists",
                        message: "\(file.path) already exists; the checkpoint would not overwrite it",
                        path: file.path
                    )
                )
            }
            if file.kind == "overlay", !disks.contains(where: { $0.source == file.covers }) {
                reasons.append(
                    ReasonJSON(
                        code: "chain-broken",
                        message: "\(file.covers ?? "?") is no longer a current disk of \(domain.name); the "
                            + "coordinator's view is older than libvirt's: try again after the next report",
                        path: file.covers
                    )
                )
            }
        }
        if order.memory == true, state == .off {
            reasons.append(
                ReasonJSON(
                    code: "checkpoint-unsupported",
                    message: "\(domain.name) is shut off: there is no memory to save; take a disk-only checkpoint"
                )
            )
        }
        return reasons
    }

    private func deleteProblems(
        _ domain: LibvirtDomain,
        snapshot: LibvirtDomain.Snapshot,
        all: [LibvirtDomain.Snapshot],
        order: CheckpointOrder
    ) throws(Failure) -> [ReasonJSON] {
        let names = order.children == true ? subtree(of: snapshot.name, in: all) : [snapshot.name]
        var reasons: [ReasonJSON] = []
        let files = try fileGraph(domain, snapshots: all)
        for name in names {
            guard let found = all.first(where: { $0.name == name }) else { continue }
            let shape = try shape(found)
            for (target, overlay) in shape.overlays.sorted(by: { $0.key < $1.key }) {
                guard let state = shape.captured[target], FileManager.default.fileExists(atPath: overlay) else {
                    continue
                }
                let children = files.children(of: state)
                guard children.count > 1 else { continue }
                for child in children where child != files.active[target] && files.inUse.contains(child) {
                    reasons.append(
                        ReasonJSON(
                            code: "checkpoint-branch-point",
                            message: "\(state), the disk state of \(name), backs \(children.count) branches "
                                + "(\(children.sorted().joined(separator: ", "))); \(child) is in use by the running "
                                + "domain below its active disk, so the shared data cannot be merged into it while "
                                + "it runs: delete the checkpoints above it on that branch first, or shut the domain "
                                + "off",
                            path: state
                        )
                    )
                }
            }
        }
        return reasons
    }

    // MARK: - Apply

    /// Carries out `order` (or finishes it, after a crash); the message says what was done.
    func apply(_ command: AgentCommand, order: CheckpointOrder) throws(Failure) -> String {
        let domain = try self.domain(command)
        switch order.action {
        case .create: return try create(domain, order: order)
        case .delete:
            let all = try list(domain)
            guard all.contains(where: { $0.name == order.checkpoint }) else {
                return "snapshot \(order.checkpoint) of \(domain.name) is already deleted"
            }
            let names =
                order.children == true ? subtree(of: order.checkpoint, in: all).reversed() : [order.checkpoint]
            var done: [String] = []
            for name in names { done.append(try delete(domain, name: name)) }
            return done.joined(separator: "; ")
        case .revert: return try revert(domain, order: order)
        case .repair: throw Failure(message: "a repair is LibvirtRepair's, not a checkpoint's")
        }
    }

    private func create(_ domain: LibvirtDomain, order: CheckpointOrder) throws(Failure) -> String {
        if try list(domain).contains(where: { $0.name == order.checkpoint }) {
            return "snapshot \(order.checkpoint) of \(domain.name) was already taken"
        }
        let problems = try createProblems(domain, order: order)
        if let problem = problems.first { throw Failure(message: problem.message) }
        let disks = try liveDisks(domain)
        var overlays: [String: String] = [:]
        for file in order.files ?? [] where file.kind == "overlay" {
            guard let disk = disks.first(where: { $0.source == file.covers }) else { continue }
            overlays[disk.target] = file.path
        }
        let memory = order.memory == true ? order.files?.first(where: { $0.kind == "memory" })?.path : nil
        try makeDirectories(for: order)
        let xml = LibvirtCheckpointXML.createSnapshot(
            name: order.checkpoint,
            description: order.description,
            memoryFile: memory,
            overlays: overlays,
            otherDisks: disks.map(\.target)
        )
        try call { () throws(LibvirtError) in
            try domain.createSnapshot(xml: xml, flags: memory == nil ? [.diskOnly, .atomic] : [.atomic])
        }
        let written = overlays.sorted(by: { $0.key < $1.key }).map { "\($0.key) → \($0.value)" }
        return "snapshot \(order.checkpoint) of \(domain.name) taken: \(written.joined(separator: ", "))"
            + (memory.map { ", memory → \($0)" } ?? "")
    }

    private func delete(_ domain: LibvirtDomain, name: String) throws(Failure) -> String {
        var all = try list(domain)
        guard let snapshot = all.first(where: { $0.name == name }) else {
            return "snapshot \(name) is already deleted"
        }
        let shape = try shape(snapshot)
        var done: [String] = []
        var unshared: [String] = []
        for (target, overlay) in shape.overlays.sorted(by: { $0.key < $1.key }) {
            guard let state = shape.captured[target], FileManager.default.fileExists(atPath: overlay) else { continue }
            let files = try fileGraph(domain, snapshots: all)
            let children = files.children(of: state)
            if children.count > 1 {
                done.append(try unshare(domain, target: target, state: state, children: children, files: files))
                unshared.append(state)
                continue
            }
            done.append(try merge(domain, target: target, overlay: overlay, into: state, files: files))
            // Later snapshots that captured the overlay now find that state in the merged file.
            for later in all where later.name != name {
                let laterShape = try self.shape(later)
                guard laterShape.captured[target] == overlay else { continue }
                let moved: String
                do throws(LibvirtCheckpointXML.Failure) {
                    moved = try LibvirtCheckpointXML.replacingSources(in: later.xml, [overlay: state])
                } catch {
                    throw Failure(message: error.description)
                }
                try call { () throws(LibvirtError) in try domain.redefineSnapshot(xml: moved, current: later.current) }
            }
            all = try list(domain)
            try remove(overlay)
        }
        if let memory = shape.memoryFile { try remove(memory) }
        try call { () throws(LibvirtError) in try domain.deleteSnapshotMetadata(name) }
        // A state file whose data now lives in every branch is removed once nothing names or backs onto it.
        if !unshared.isEmpty {
            let remaining = try list(domain)
            let files = try fileGraph(domain, snapshots: remaining)
            var named = Set<String>()
            for other in remaining {
                let otherShape = try self.shape(other)
                named.formUnion(otherShape.overlays.values)
                named.formUnion(otherShape.captured.values)
            }
            for state in unshared
            where !named.contains(state) && files.children(of: state).isEmpty && !files.inUse.contains(state) {
                try remove(state)
            }
        }
        return "snapshot \(name) deleted" + (done.isEmpty ? "" : ": " + done.joined(separator: ", "))
    }

    /// Merges `overlay` into `state`, the file below it that nothing else backs onto.
    private func merge(
        _ domain: LibvirtDomain,
        target: String,
        overlay: String,
        into state: String,
        files: FileGraph
    ) throws(Failure) -> String {
        if files.active[target] == overlay {
            if try call({ () throws(LibvirtError) in try domain.blockJob(target: target) }) == nil {
                try call { () throws(LibvirtError) in
                    try domain.blockCommit(
                        target: target,
                        base: state,
                        top: nil,
                        flags: [.active, .shallow],
                        bandwidth: settings.mergeBandwidthMiB
                    )
                }
            }
            AgentFaultInjection.reached("checkpoint-merge")
            try waitForJob(domain, target: target, pivot: true)
            // The persistent definition follows the pivot; make sure of it.
            let inactive = try call { () throws(LibvirtError) in try domain.xml(inactive: true) }
            let disks = try fileDisks(inactive)
            if disks.contains(where: { $0.target == target && $0.source == overlay }) {
                let moved = try replacing(inactive, [overlay: state])
                _ = try call { () throws(LibvirtError) in try domain.connection.define(xml: moved) }
            }
            return "\(target): \(overlay) merged into \(state) (active commit, pivot)"
        }
        if files.inUse.contains(overlay) {
            if try call({ () throws(LibvirtError) in try domain.blockJob(target: target) }) == nil {
                try call { () throws(LibvirtError) in
                    try domain.blockCommit(
                        target: target,
                        base: state,
                        top: overlay,
                        flags: [.shallow],
                        bandwidth: settings.mergeBandwidthMiB
                    )
                }
            }
            try waitForJob(domain, target: target, pivot: false)
            return "\(target): \(overlay) merged into \(state) (block commit)"
        }
        // Nothing has the overlay open: merge it with qemu-img, then point its children at the merged file (their
        // content is unchanged: the merged file now reads as the overlay did).
        try run(["commit", "-q", "-d", "-b", state, overlay])
        for child in files.children(of: overlay) {
            try run(["rebase", "-q", "-u", "-F", format(of: state), "-b", state, child])
        }
        return "\(target): \(overlay) merged into \(state) (qemu-img commit)"
    }

    /// A branch point: the data of `state` is copied into each child, so that none backs onto it any more.
    private func unshare(
        _ domain: LibvirtDomain,
        target: String,
        state: String,
        children: [String],
        files: FileGraph
    ) throws(Failure) -> String {
        let below = files.backing[state]
        for child in children {
            if child == files.active[target] {
                if try call({ () throws(LibvirtError) in try domain.blockJob(target: target) }) == nil {
                    try call { () throws(LibvirtError) in
                        try domain.blockPull(target: target, base: below, bandwidth: settings.mergeBandwidthMiB)
                    }
                }
                try waitForJob(domain, target: target, pivot: false)
            } else if files.inUse.contains(child) {
                throw Failure(
                    message: "\(state) backs \(children.count) branches and \(child) is in use below the running "
                        + "disk; nothing was merged into it"
                )
            } else {
                try run(["rebase", "-q", "-F", format(of: below ?? state), "-b", below ?? "", child])
            }
        }
        return "\(target): \(state) was shared by \(children.count) branches; its data now lives in each of "
            + children.sorted().joined(separator: ", ")
    }

    private func revert(_ domain: LibvirtDomain, order: CheckpointOrder) throws(Failure) -> String {
        guard let snapshot = try list(domain).first(where: { $0.name == order.checkpoint }) else {
            throw Failure(message: "\(domain.name) has no snapshot \(order.checkpoint)")
        }
        let shape = try shape(snapshot)
        var byTarget: [String: String] = [:]
        for file in order.files ?? [] where file.kind == "overlay" {
            guard let target = shape.captured.first(where: { $0.value == file.covers })?.key else { continue }
            byTarget[target] = file.path
        }
        guard !byTarget.isEmpty else {
            throw Failure(message: "the revert names no new overlay over the disks of \(order.checkpoint)")
        }
        let inactive = try call { () throws(LibvirtError) in try domain.xml(inactive: true) }
        let current = try fileDisks(inactive)
        let already = byTarget.allSatisfy { target, path in
            current.contains { $0.target == target && $0.source == path }
        }
        if !already {
            try makeDirectories(for: order)
            for (target, path) in byTarget.sorted(by: { $0.key < $1.key })
            where !FileManager.default.fileExists(
                atPath: path
            ) {
                guard let state = shape.captured[target] else { continue }
                try run(["create", "-q", "-f", "qcow2", "-F", format(of: state), "-b", state, path])
            }
            if try call({ () throws(LibvirtError) in try domain.state() }) != .off {
                try call { () throws(LibvirtError) in try domain.destroy() }
            }
            let moved: String
            do throws(LibvirtCheckpointXML.Failure) {
                moved = try LibvirtCheckpointXML.replacingSources(in: inactive, byTarget: byTarget)
            } catch {
                throw Failure(message: error.description)
            }
            _ = try call { () throws(LibvirtError) in try domain.connection.define(xml: moved) }
        }
        var started = "left shut off (the checkpoint holds no memory)"
        if let memory = shape.memoryFile {
            if try call({ () throws(LibvirtError) in try domain.state() }) == .off {
                let definition = try call { () throws(LibvirtError) in try domain.xml(inactive: true) }
                try call { () throws(LibvirtError) in
                    try domain.connection.restore(from: memory, xml: definition, paused: shape.state == "paused")
                }
            }
            started = "restored from \(memory)"
        }
        try call { () throws(LibvirtError) in try domain.redefineSnapshot(xml: snapshot.xml, current: true) }
        let overlays = byTarget.sorted(by: { $0.key < $1.key }).map { "\($0.key) → \($0.value)" }
        return "\(domain.name) reverted to \(order.checkpoint) on new overlays \(overlays.joined(separator: ", ")); "
            + started
    }

    // MARK: - Files

    /// The qcow2 backing links among the VM's files: every snapshot's overlay and state file, and each current
    /// disk's chain; which files the running domain has open.
    struct FileGraph {
        /// File → the file it backs onto (absolute).
        var backing: [String: String] = [:]
        /// Guest device → the running domain's active file.
        var active: [String: String] = [:]
        /// Every file of the running domain's chains.
        var inUse: Set<String> = []

        func children(of file: String) -> [String] {
            backing.filter { $0.value == file }.map(\.key).sorted()
        }
    }

    func fileGraph(_ domain: LibvirtDomain, snapshots: [LibvirtDomain.Snapshot]) throws(Failure) -> FileGraph {
        var graph = FileGraph()
        var candidates = Set<String>()
        for snapshot in snapshots {
            let shape = try shape(snapshot)
            candidates.formUnion(shape.overlays.values)
            candidates.formUnion(shape.captured.values)
        }
        let running = try call { () throws(LibvirtError) in try domain.state() } != .off
        let persistent = try fileDisks(try call { () throws(LibvirtError) in try domain.xml(inactive: true) })
        let live = running ? try liveDisks(domain) : []
        candidates.formUnion(persistent.map(\.source))
        candidates.formUnion(live.map(\.source))
        // Files no snapshot names can back onto these too (the state a revert left, a copy by hand): every image in
        // the same directories counts, so a shared file is never merged into or removed while one of them needs it.
        for directory in Set(candidates.map { LocalPath.directory(of: $0) }) {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for entry in entries.prefix(10_000) where !entry.hasPrefix(".") {
                candidates.insert(LocalPath.join(directory, entry))
            }
        }
        var queue = Array(candidates)
        var seen = Set<String>()
        while let file = queue.popLast() {
            guard seen.insert(file).inserted, let parent = backingFile(of: file) else { continue }
            graph.backing[file] = parent
            queue.append(parent)
        }
        for disk in live {
            graph.active[disk.target] = disk.source
            var file: String? = disk.source
            while let current = file, graph.inUse.insert(current).inserted { file = graph.backing[current] }
        }
        return graph
    }

    /// A `--checkpoint-volume` folder may not exist yet.
    private func makeDirectories(for order: CheckpointOrder) throws(Failure) {
        for file in order.files ?? [] {
            let directory = LocalPath.directory(of: file.path)
            guard !FileManager.default.fileExists(atPath: directory) else { continue }
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw Failure(message: "cannot create \(directory) for the checkpoint: \(error.localizedDescription)")
            }
        }
    }

    // MARK: - libvirt

    /// Waits for the block job on `target` to finish; with `pivot`, pivots once it has copied everything.
    private func waitForJob(_ domain: LibvirtDomain, target: String, pivot: Bool) throws(Failure) {
        let deadline = ContinuousClock.now + jobLimit
        while ContinuousClock.now < deadline {
            guard let job = try call({ () throws(LibvirtError) in try domain.blockJob(target: target) }) else {
                return
            }
            if pivot, job.ready {
                try call { () throws(LibvirtError) in try domain.finishBlockJob(target: target, pivot: true) }
                pivotWait: for _ in 0..<600 {
                    if try call({ () throws(LibvirtError) in try domain.blockJob(target: target) }) == nil {
                        break pivotWait
                    }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                return
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw Failure(
            message: "the block job on \(target) of \(domain.name) still runs after \(jobLimit); it goes on in QEMU "
                + "and the operation finishes it when it is sent again"
        )
    }

    private func list(_ domain: LibvirtDomain) throws(Failure) -> [LibvirtDomain.Snapshot] {
        try call { () throws(LibvirtError) in try domain.snapshots() }
    }

    private func liveDisks(_ domain: LibvirtDomain) throws(Failure) -> [LibvirtCheckpointXML.FileDisk] {
        try fileDisks(try call { () throws(LibvirtError) in try domain.xml(inactive: false) })
    }

    private func replacing(_ xml: String, _ sources: [String: String]) throws(Failure) -> String {
        do throws(LibvirtCheckpointXML.Failure) {
            return try LibvirtCheckpointXML.replacingSources(in: xml, sources)
        } catch {
            throw Failure(message: error.description)
        }
    }

    private func shape(_ snapshot: LibvirtDomain.Snapshot) throws(Failure) -> LibvirtCheckpointXML.SnapshotShape {
        do throws(LibvirtCheckpointXML.Failure) {
            return try LibvirtCheckpointXML.shape(of: snapshot.xml)
        } catch {
            throw Failure(message: "snapshot \(snapshot.name): \(error.description)")
        }
    }

    /// `name` and every snapshot below it, parents first.
    func subtree(of name: String, in all: [LibvirtDomain.Snapshot]) -> [String] {
        var parents: [String: String] = [:]
        for snapshot in all {
            if let parent = try? LibvirtCheckpointXML.shape(of: snapshot.xml).parent { parents[snapshot.name] = parent }
        }
        var result = [name]
        var index = 0
        while index < result.count {
            let current = result[index]
            result += all.map(\.name).filter { parents[$0] == current }
            index += 1
        }
        return result
    }

}
