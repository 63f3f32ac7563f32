import ChainModel
import DecisionEngine

/// The answer to `node resume`, `node fence-confirm`, `node remove` and `vm clear`.
public struct ActionResponse: Codable, Sendable, Hashable {
    /// The node or VM acted on.
    public var name: String
    /// The node's state afterwards (`removed` for a removed node, `cleared` for a VM).
    public var state: String
    public var message: String

    public init(name: String, state: String, message: String) {
        self.name = name
        self.state = state
        self.message = message
    }
}

/// `drain --json`: what moved, and what stayed with why (SPEC §6).
public struct DrainResponse: Codable, Sendable, Hashable {
    public struct Moved: Codable, Sendable, Hashable {
        public var vm: String
        public var vmId: String
        public var target: String
        public var migrationId: String?

        public init(vm: String, vmId: String, target: String, migrationId: String?) {
            self.vm = vm
            self.vmId = vmId
            self.target = target
            self.migrationId = migrationId
        }
    }

    public struct Stayed: Codable, Sendable, Hashable {
        public var vm: String
        public var vmId: String
        public var reasons: [ReasonJSON]

        public init(vm: String, vmId: String, reasons: [ReasonJSON]) {
            self.vm = vm
            self.vmId = vmId
            self.reasons = reasons
        }
    }

    /// A stranded VM whose `--stranded repair` policy had its files moved first (issue 25).
    public struct Repaired: Codable, Sendable, Hashable {
        public var vm: String
        public var vmId: String
        public var volume: String
        public var operationId: String?

        public init(vm: String, vmId: String, volume: String, operationId: String?) {
            self.vm = vm
            self.vmId = vmId
            self.volume = volume
            self.operationId = operationId
        }
    }

    public var node: String
    public var state: String
    public var moved: [Moved]
    public var stayed: [Stayed]
    /// Absent when nothing was repaired.
    public var repaired: [Repaired]?

    public init(node: String, state: String, moved: [Moved], stayed: [Stayed], repaired: [Repaired]? = nil) {
        self.repaired = repaired
        self.node = node
        self.state = state
        self.moved = moved
        self.stayed = stayed
    }
}
