import ChainModel

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
