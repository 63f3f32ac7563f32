import ChainModel

/// How much one agent report may hold, and how large each of its values may be (SPEC §8: every number and string an
/// agent sends is bounded).
///
/// The counts sit well above SPEC §9's largest node (1,250 VMs with 16 checkpoints each) and Hyper-V's own limits
/// (50 checkpoints a VM); the body limit (`maxBodyBytes`, 64 MiB) bounds the whole. docs/api.md lists them.
public enum ReportLimits {
    public static let vms = 20_000
    public static let volumes = 1_024
    public static let noncesRead = 1_024
    public static let filesPerVM = 20_000
    public static let checkpointsPerVM = 1_000
    public static let chainsPerVM = 20_000
    /// Elements of one chain (`maxChainDepth` is 32 by default).
    public static let chainLength = 1_024
    public static let inventoryErrors = 20_000
    public static let discoveredDisks = 200_000
    /// A path, as the agent sees it or relative to its volume (Linux's PATH_MAX).
    public static let pathBytes = 4_096
    /// Enumerated words (`state`, `kind`, `format`, `problem`, a filesystem type).
    public static let wordBytes = 64
    /// A probe nonce: what agents write is 32 hex digits.
    public static let nonceBytes = 128
    /// A hypervisor URI (`qemu+ssh://node2/system`).
    public static let uriBytes = 1_024
}

/// A report value outside its bound: which field, and why (a 400 naming the field).
public struct ReportFieldError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The field, as a path into the report: `vms[3].memoryMiB`.
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

extension AgentReport {
    /// Refuses a report with any count, number or string outside `ReportLimits` and `ValueBounds`, or any name or
    /// identifier that breaks `NameRule`, naming the first such field.
    ///
    /// What may differ between a sound agent's VMs (an unknown state, a path that leaves its volume) is not checked
    /// here: the coordinator records it as that VM's inventory error, and the rest of the report still lands.
    /// Free text (inventory error messages, problem details) is not refused: it is cut to length and escaped where it
    /// is stored (`ReportedText.stored`).
    public func validate() throws(ReportFieldError) {
        try validate(vmsChecked: firstVMError(in: vms.indices))
    }

    /// The first entry of `vms` within `range` that is out of its bounds, in order (`nil`: none).
    public func firstVMError(in range: Range<Int>) -> ReportFieldError? {
        for index in range {
            do throws(ReportFieldError) {
                try vms[index].validate(at: "vms[\(index)]")
            } catch {
                return error
            }
        }
        return nil
    }

    /// `validate()` with the entries of `vms` checked already (on several threads).
    ///
    /// `vmError` is the first of them out of its bounds, thrown where `validate()` would have found it. `entries`, when
    /// given, is how many entries the report holds, `vms` being empty (its header alone, its entries checked as they
    /// are decoded: `ReportPipeline`).
    public func validate(vmsChecked vmError: ReportFieldError?, entries: Int? = nil) throws(ReportFieldError) {
        let vmCount = entries ?? vms.count
        try FieldCheck.name(node, "node", .name("a node name"))
        try FieldCheck.word(driver.raw, "driver")
        if let memoryMiB { try FieldCheck.range(Int64(memoryMiB), 0...Int64(ValueBounds.memoryMiB), "memoryMiB") }
        try FieldCheck.count(volumes.count, ReportLimits.volumes, "volumes")
        for (index, volume) in volumes.enumerated() {
            try volume.validate(at: "volumes[\(index)]")
        }
        try FieldCheck.count(vmCount, ReportLimits.vms, "vms")
        if let vmError { throw vmError }
        // Together with `vms`: one report lists at most `ReportLimits.vms` VMs, however they are sent.
        try FieldCheck.count(vmCount + (unchangedVMs?.count ?? 0), ReportLimits.vms, "unchangedVMs")
        for (index, vm) in (unchangedVMs ?? []).enumerated() {
            try FieldCheck.name(vm.id, "unchangedVMs[\(index)].id", .identifier("a VM id"))
            try FieldCheck.digest(vm.digest, "unchangedVMs[\(index)].digest")
        }
        if let hypervisorURI { try FieldCheck.uri(hypervisorURI, "hypervisorURI") }
        try FieldCheck.count(inventoryErrors.count, ReportLimits.inventoryErrors, "inventoryErrors")
        try FieldCheck.count(discoveredDisks.count, ReportLimits.discoveredDisks, "discoveredDisks")
        for (index, disk) in discoveredDisks.enumerated() {
            let field = "discoveredDisks[\(index)]"
            try FieldCheck.name(disk.volumeId, "\(field).volumeId", .identifier("a volume id"))
            try FieldCheck.path(disk.relativePath, "\(field).relativePath")
            try FieldCheck.path(disk.path, "\(field).path")
        }
    }
}

extension ReportedVolume {
    func validate(at field: String) throws(ReportFieldError) {
        try FieldCheck.name(id, "\(field).id", .identifier("a volume id"))
        try FieldCheck.name(name, "\(field).name", .name("a volume name"))
        try FieldCheck.path(mountPath, "\(field).mountPath")
        if let filesystemType { try FieldCheck.word(filesystemType, "\(field).filesystemType") }
        if let probeWritten { try FieldCheck.nonce(probeWritten, "\(field).probeWritten") }
        try FieldCheck.count(probeRead.count, ReportLimits.noncesRead, "\(field).probeRead")
        for (index, nonce) in probeRead.enumerated() { try FieldCheck.nonce(nonce, "\(field).probeRead[\(index)]") }
        if let freeBytes { try FieldCheck.range(freeBytes, 0...ValueBounds.bytes, "\(field).freeBytes") }
        if let totalBytes { try FieldCheck.range(totalBytes, 0...ValueBounds.bytes, "\(field).totalBytes") }
    }
}

extension ReportedVM {
    /// The VM's bounds, as `AgentReport.validate` checks them.
    public func validate(at field: String) throws(ReportFieldError) {
        try FieldCheck.name(id, "\(field).id", .identifier("a VM id"))
        try FieldCheck.name(name, "\(field).name", .name("a VM name"))
        try FieldCheck.word(state.raw, "\(field).state")
        try FieldCheck.range(Int64(memoryMiB), 0...Int64(ValueBounds.memoryMiB), "\(field).memoryMiB")
        if let epoch { try FieldCheck.range(epoch, 1...ValueBounds.epoch, "\(field).epoch") }
        if let metadataDigest { try FieldCheck.digest(metadataDigest, "\(field).metadataDigest") }
        if let digest { try FieldCheck.digest(digest, "\(field).digest") }
        try FieldCheck.count(checkpoints.count, ReportLimits.checkpointsPerVM, "\(field).checkpoints")
        for (index, checkpoint) in checkpoints.enumerated() {
            let at = "\(field).checkpoints[\(index)]"
            try FieldCheck.name(checkpoint.id, "\(at).id", .identifier("a checkpoint id"))
            try FieldCheck.name(checkpoint.name, "\(at).name", .name("a checkpoint name"))
            if let parent = checkpoint.parentId {
                try FieldCheck.name(parent, "\(at).parentId", .identifier("a checkpoint id"))
            }
            if let created = checkpoint.created {
                try FieldCheck.range(created, 0...ValueBounds.timestampMilliseconds, "\(at).created")
            }
        }
        try FieldCheck.count(nextFiles?.count ?? 0, 2, "\(field).nextFiles")
        for (index, next) in (nextFiles ?? []).enumerated() {
            let at = "\(field).nextFiles[\(index)]"
            try FieldCheck.word(next.role, "\(at).role")
            try FieldCheck.length(next.path, ReportLimits.pathBytes, "\(at).path")
            if let volumeId = next.volumeId {
                try FieldCheck.name(volumeId, "\(at).volumeId", .identifier("a volume id"))
            }
            if let relative = next.relativePath {
                try FieldCheck.length(relative, ReportLimits.pathBytes, "\(at).relativePath")
            }
        }
        try FieldCheck.count(files.count, ReportLimits.filesPerVM, "\(field).files")
        for (index, file) in files.enumerated() {
            let at = "\(field).files[\(index)]"
            try FieldCheck.length(file.path, ReportLimits.pathBytes, "\(at).path")
            if let volumeId = file.volumeId {
                try FieldCheck.name(volumeId, "\(at).volumeId", .identifier("a volume id"))
            }
            if let relative = file.relativePath {
                try FieldCheck.length(relative, ReportLimits.pathBytes, "\(at).relativePath")
            }
            try FieldCheck.word(file.kind.raw, "\(at).kind")
            if let format = file.format { try FieldCheck.word(format.raw, "\(at).format") }
            try FieldCheck.range(file.size, 0...ValueBounds.bytes, "\(at).size")
            if let identifier = file.identifier {
                try FieldCheck.name(identifier, "\(at).identifier", .identifier("a disk identifier"))
            }
            if let checkpoint = file.checkpointId {
                try FieldCheck.name(checkpoint, "\(at).checkpointId", .identifier("a checkpoint id"))
            }
            if let problem = file.problem { try FieldCheck.word(problem.raw, "\(at).problem") }
        }
        try FieldCheck.count(chains.count, ReportLimits.chainsPerVM, "\(field).chains")
        for (index, chain) in chains.enumerated() {
            let at = "\(field).chains[\(index)]"
            try FieldCheck.count(chain.files.count, ReportLimits.chainLength, "\(at).files")
            if let checkpoint = chain.checkpointId {
                try FieldCheck.name(checkpoint, "\(at).checkpointId", .identifier("a checkpoint id"))
            }
        }
    }
}

/// The checks, each naming its field.
enum FieldCheck {
    static func name(_ text: String, _ field: String, _ rule: NameRule) throws(ReportFieldError) {
        if let problem = rule.violation(in: text) { throw ReportFieldError(field: field, message: problem) }
    }

    /// `sha256:` and 64 lowercase hex digits.
    static func digest(_ text: String, _ field: String) throws(ReportFieldError) {
        guard HypervisorMetadata.isDigest(text) else {
            throw ReportFieldError(field: field, message: "is not sha256: followed by 64 lowercase hex digits")
        }
    }

    /// A URI of printable ASCII without spaces or quotes, at most `ReportLimits.uriBytes`.
    static func uri(_ text: String, _ field: String) throws(ReportFieldError) {
        try length(text, ReportLimits.uriBytes, field)
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x27 }) else {
            throw ReportFieldError(field: field, message: "is not a URI of printable ASCII without spaces or quotes")
        }
    }

    static func word(_ text: String, _ field: String) throws(ReportFieldError) {
        try name(text, field, NameRule("the value", maxBytes: ReportLimits.wordBytes))
    }

    static func nonce(_ text: String, _ field: String) throws(ReportFieldError) {
        try name(text, field, NameRule("a probe nonce", maxBytes: ReportLimits.nonceBytes))
    }

    /// A path's length only: what a path may contain is judged per VM (`ReportedPath`).
    static func length(_ text: String, _ limit: Int, _ field: String) throws(ReportFieldError) {
        guard text.utf8.count <= limit else {
            throw ReportFieldError(field: field, message: "\(text.utf8.count) bytes, more than the \(limit) allowed")
        }
    }

    /// A path that must be whole for the report to be read at all (a mount, a discovered disk): bounded, without NUL.
    static func path(_ text: String, _ field: String) throws(ReportFieldError) {
        try length(text, ReportLimits.pathBytes, field)
        if let problem = ReportedPath.problem(in: text, relative: false) {
            throw ReportFieldError(field: field, message: problem)
        }
    }

    static func count(_ count: Int, _ limit: Int, _ field: String) throws(ReportFieldError) {
        guard count <= limit else {
            throw ReportFieldError(field: field, message: "\(count) entries, more than the \(limit) allowed")
        }
    }

    static func range(_ value: Int64, _ bounds: ClosedRange<Int64>, _ field: String) throws(ReportFieldError) {
        guard bounds.contains(value) else {
            throw ReportFieldError(
                field: field,
                message: "\(value) is outside \(bounds.lowerBound)...\(bounds.upperBound)"
            )
        }
    }
}

/// What a path in a report may be.
public enum ReportedPath {
    /// Why `path` cannot be used, or `nil`.
    ///
    /// A path relative to a volume root must not be empty, absolute, or climb with `..` (it would name a file outside
    /// the volume on every node that resolves it); no path may hold NUL (it would silently end the name at the C
    /// boundary) or another control character.
    public static func problem(in path: String, relative: Bool) -> String? {
        if path.isEmpty { return "the path is empty" }
        if let scalar = path.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "the path contains the control character \(NameRule.codePoint(scalar))"
        }
        guard relative else { return nil }
        if path.hasPrefix("/") { return "a path relative to its volume must not start with '/'" }
        if path.split(separator: "/", omittingEmptySubsequences: true).contains("..") {
            return "a path relative to its volume must not contain '..'"
        }
        return nil
    }
}

/// Free text from an agent as it is stored and shown: at most `maxBytes` of UTF-8, control characters escaped.
public enum ReportedText {
    public static func stored(_ text: String, maxBytes: Int = 4_096) -> String {
        let escaped = PrintableText.escape(text)
        guard escaped.utf8.count > maxBytes else { return escaped }
        var cut = ""
        var bytes = 0
        for character in escaped {
            let size = character.utf8.count
            guard bytes + size <= maxBytes - 3 else { break }
            cut.append(character)
            bytes += size
        }
        return cut + "..."
    }
}

extension CommandResult {
    /// Reasons one answer may carry.
    public static let maxReasons = 1_000

    /// The answer as the coordinator keeps it: at most `maxReasons` reasons, every text cut to length and escaped
    /// (an agent's words reach the journal, the CLI and the logs).
    public func sanitized() -> CommandResult {
        var result = self
        result.message = message.map { ReportedText.stored($0) }
        result.reasons = reasons.prefix(Self.maxReasons).map { reason in
            var reason = reason
            reason.code = ReportedText.stored(reason.code, maxBytes: ReportLimits.wordBytes)
            reason.message = ReportedText.stored(reason.message)
            reason.path = reason.path.map { ReportedText.stored($0, maxBytes: ReportLimits.pathBytes) }
            reason.volume = reason.volume.map { ReportedText.stored($0, maxBytes: 255) }
            reason.volumeId = reason.volumeId.map { ReportedText.stored($0, maxBytes: 255) }
            reason.snapshot = reason.snapshot.map { ReportedText.stored($0, maxBytes: 255) }
            reason.snapshotId = reason.snapshotId.map { ReportedText.stored($0, maxBytes: 255) }
            return reason
        }
        return result
    }
}

extension AgentReport {
    /// The report with everything outside its bounds taken out, so that a sound agent's report is never refused whole:
    /// a VM, volume or discovered disk that breaks a bound becomes an inventory error (its name escaped), lists are cut
    /// to their limits, and free text is cut and escaped.
    ///
    /// Returns what was taken out, for the agent's log.
    public func bounded() -> (report: AgentReport, removed: [String]) {
        var report = self
        var removed: [String] = []
        func note(_ vm: String?, _ message: String) {
            let vm = vm.map { ReportedText.stored($0, maxBytes: 255) }
            report.inventoryErrors.append(ReportedInventoryError(vm: vm, message: ReportedText.stored(message)))
            removed.append((vm.map { "\($0): " } ?? "") + message)
        }
        report.volumes = []
        for (index, volume) in volumes.enumerated() {
            guard report.volumes.count < ReportLimits.volumes else {
                note(nil, "more than \(ReportLimits.volumes) volumes: \(volume.mountPath) and later ones left out")
                break
            }
            do {
                var volume = volume
                volume.probeRead = Array(volume.probeRead.prefix(ReportLimits.noncesRead))
                try volume.validate(at: "volumes[\(index)]")
                report.volumes.append(volume)
            } catch {
                note(nil, "the volume marker at \(volume.mountPath) is left out: \(error.field): \(error.message)")
            }
        }
        report.vms = []
        for vm in vms {
            guard report.vms.count < ReportLimits.vms else {
                note(nil, "more than \(ReportLimits.vms) VMs: \(vm.name) and later ones left out")
                break
            }
            do {
                try vm.validate(at: "vm")
                report.vms.append(vm)
            } catch {
                note(vm.name, "left out of the report: \(error.field): \(error.message)")
            }
        }
        report.discoveredDisks = discoveredDisks.prefix(ReportLimits.discoveredDisks).filter { disk in
            (try? FieldCheck.name(disk.volumeId, "", .identifier("a volume id"))) != nil
                && (try? FieldCheck.path(disk.relativePath, "")) != nil && (try? FieldCheck.path(disk.path, "")) != nil
        }
        report.inventoryErrors = Array(
            report.inventoryErrors.prefix(ReportLimits.inventoryErrors).map {
                ReportedInventoryError(
                    vm: $0.vm.map { ReportedText.stored($0, maxBytes: 255) },
                    message: ReportedText.stored($0.message)
                )
            }
        )
        return (report, removed)
    }
}
