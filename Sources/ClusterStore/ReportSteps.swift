import ChainModel
import Synchronization

/// VMs of a report that reach the store after it began applying the report: a large report's entries are decoded and
/// checked part by part while the writer applies the parts before (`ClusterStore.ingest(_:at:rest:)`).
public struct ReportPart: Sendable {
    public var vms: [VM]
    /// Every VM id these entries name, understood or not (the node's listings).
    public var listed: [VMID]
    /// Entries of this part that could not be understood.
    public var inventoryErrors: [InventoryError]
    /// `vm.report_key` of each VM in `vms` whose entry came with a digest.
    public var reportKeys: [VMID: String]

    public init(vms: [VM], listed: [VMID], inventoryErrors: [InventoryError], reportKeys: [VMID: String]) {
        self.vms = vms
        self.listed = listed
        self.inventoryErrors = inventoryErrors
        self.reportKeys = reportKeys
    }

    /// What a `ReportPartSource` gives next.
    public enum Next: Sendable {
        case part(ReportPart)
        /// There are no more parts: the report ends as it began.
        case end
        /// The rest of the report cannot be read (why, for the store's error): nothing after the parts applied so
        /// far is written, not even the report's end.
        case stopped(String)
    }
}

/// Where the parts of a report come from, in order; `next()` waits until the next one is ready.
public protocol ReportPartSource: Sendable {
    func next() -> ReportPart.Next
}

/// The steps of one report in order, each prepared (`ClusterStore.prepare`) by whichever thread asks for it: the
/// batch's own VMs `ReportBatch.vmsPerStep` at a time, then each part of `rest` as it arrives, split the same way.
///
/// Asked for by one thread at a time (the writer for the first step, then each step's `WorkAhead` for the next), but
/// from different threads: its position is kept under a lock.
final class ReportSteps: Sendable {
    typealias Step = Result<(PreparedStep, ReportBatch), StoreError>

    private struct Position {
        /// VMs not yet in a step, the batch they belong to, and the part's listings and errors not yet handed out.
        var pending: ArraySlice<VM>
        var batch: ReportBatch
        var listed: [VMID] = []
        var errors: [InventoryError] = []
        var restEnded: Bool
    }

    private let position: Mutex<Position>
    private let rest: (any ReportPartSource)?
    private let prepare: @Sendable (ArraySlice<VM>, ReportBatch) -> PreparedStep

    init(
        batch: ReportBatch,
        rest: (any ReportPartSource)?,
        prepare: @escaping @Sendable (ArraySlice<VM>, ReportBatch) -> PreparedStep
    ) {
        self.position = Mutex(Position(pending: batch.vms[...], batch: batch, restEnded: rest == nil))
        self.rest = rest
        self.prepare = prepare
    }

    /// Whether `next()` may give another step; `false` means it would give `nil` at once.
    var mayHaveMore: Bool { position.withLock { !$0.pending.isEmpty || !$0.restEnded } }

    /// The next step prepared, `nil` after the last, or why the report stopped.
    func next() -> Step? {
        while true {
            let taken = position.withLock { at -> (ArraySlice<VM>, ReportBatch, [VMID], [InventoryError])? in
                // A part's listings and errors travel with its first step, even when it has no VM.
                guard !at.pending.isEmpty || !at.listed.isEmpty || !at.errors.isEmpty else { return nil }
                let vms = at.pending.prefix(ReportBatch.vmsPerStep)
                at.pending = at.pending.dropFirst(vms.count)
                defer {
                    at.listed = []
                    at.errors = []
                }
                return (vms, at.batch, at.listed, at.errors)
            }
            if let (vms, batch, listed, errors) = taken {
                var step = prepare(vms, batch)
                step.listed = listed
                step.inventoryErrors = errors
                return .success((step, batch))
            }
            guard let rest, !position.withLock({ $0.restEnded }) else { return nil }
            switch rest.next() {
            case .part(let part):
                position.withLock { at in
                    at.batch.reportKeys = part.reportKeys
                    at.pending = part.vms[...]
                    at.listed = part.listed
                    at.errors = part.inventoryErrors
                }
            case .end:
                position.withLock { $0.restEnded = true }
                return nil
            case .stopped(let reason):
                position.withLock { $0.restEnded = true }
                return .failure(StoreError(.reportIncomplete, reason))
            }
        }
    }
}
