import ChainModel
import DecisionEngine

/// `audit --json` (SPEC §7): `{risks: [...]}`.
public struct AuditResponse: Codable, Sendable, Hashable {
    public var risks: [RiskJSON]

    public init(risks: [RiskJSON]) { self.risks = risks }
}

/// One risk: `{code, severity, message, vm?, node?, volume?, path?}` plus ids for scripts.
public struct RiskJSON: Codable, Sendable, Hashable {
    public var code: String
    public var severity: String
    public var message: String
    public var vm: String?
    public var vmId: String?
    public var node: String?
    public var volume: String?
    public var volumeId: String?
    public var path: String?

    public init(_ risk: Risk) {
        code = risk.code.rawValue
        severity = risk.severity.rawValue
        message = risk.message
        vm = risk.vm
        vmId = risk.vmID?.rawValue
        node = risk.node?.rawValue
        volume = risk.volume
        volumeId = risk.volumeID?.rawValue
        path = risk.path
    }
}

/// One row of `vms --json`.
public struct VMSummaryJSON: Codable, Sendable, Hashable {
    public var name: String
    public var id: String
    public var owner: String
    public var state: String
    public var highlyAvailable: Bool
    public var stranded: Bool
    public var epoch: Int64
    public var checkpoints: Int
    public var risks: [String]

    public init(
        name: String,
        id: String,
        owner: String,
        state: String,
        highlyAvailable: Bool,
        stranded: Bool,
        epoch: Int64,
        checkpoints: Int,
        risks: [String]
    ) {
        self.name = name
        self.id = id
        self.owner = owner
        self.state = state
        self.highlyAvailable = highlyAvailable
        self.stranded = stranded
        self.epoch = epoch
        self.checkpoints = checkpoints
        self.risks = risks
    }
}

/// One row of `volumes --json`: `{id, name, reachableFrom, kind}`.
public struct VolumeJSON: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var reachableFrom: [String]
    public var kind: String
    /// Nodes that report the marker, verified or not.
    public var reportedBy: [String]

    public init(id: String, name: String, reachableFrom: [String], kind: String, reportedBy: [String]) {
        self.id = id
        self.name = name
        self.reachableFrom = reachableFrom
        self.kind = kind
        self.reportedBy = reportedBy
    }
}
