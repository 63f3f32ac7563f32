import ChainModel
import Synchronization

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
