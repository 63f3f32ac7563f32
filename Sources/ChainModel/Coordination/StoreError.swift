/// A store operation that could not be done, with a code and a message an administrator can act on.
///
/// The message never carries SQL.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The database file could not be opened or migrated.
        public static let unavailable = Code(rawValue: "store-unavailable")
        /// A checkpoint would become its own ancestor.
        public static let checkpointCycle = Code(rawValue: "checkpoint-cycle")
        /// A row names a parent, VM, node, volume or checkpoint that does not exist.
        public static let danglingReference = Code(rawValue: "dangling-reference")
        /// A value is outside its domain (a state, kind or format the schema does not know).
        public static let invalidValue = Code(rawValue: "invalid-value")
        /// A second row where only one may exist (a second active migration for a VM, a reused epoch).
        public static let conflict = Code(rawValue: "conflict")
        /// A VM's epoch may only grow.
        public static let epochDecrease = Code(rawValue: "epoch-decrease")
        /// A migration may only take the steps of the SPEC §6 state machine.
        public static let invalidTransition = Code(rawValue: "invalid-transition")
        /// An inventory that contradicts itself (a chain naming a file the VM does not list, …).
        public static let invalidInventory = Code(rawValue: "invalid-inventory")
        /// A VM's epoch reached its bound: no further migration can reserve one.
        public static let epochExhausted = Code(rawValue: "epoch-exhausted")
        /// The rest of a report could not be read after some of its VMs were applied: those stay, nothing after
        /// them is written (`ClusterStore.ingest(_:at:rest:)`).
        public static let reportIncomplete = Code(rawValue: "report-incomplete")
        /// A guarded write from a coordinator whose leadership term has ended.
        public static let notLeader = Code(rawValue: "not-leader")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// A VM whose epoch reached `ValueBounds.epoch`: it cannot be moved again (an epoch never wraps).
    public static func epochExhausted(_ vm: VMID) -> StoreError {
        StoreError(
            .epochExhausted,
            "VM \(vm.rawValue) has used every epoch up to \(ValueBounds.epoch); it cannot be migrated again. Its epoch "
                + "can only have got there through a report or a database edit: see docs/operations.md"
        )
    }

    public init(_ error: ModelError) {
        let code: Code =
            switch error.code {
            case .checkpointCycle: .checkpointCycle
            case .danglingParent: .danglingReference
            default: .invalidInventory
            }
        self.init(code, error.message)
    }
}
