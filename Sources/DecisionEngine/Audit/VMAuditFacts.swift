import ChainModel

/// What the audit knows about a VM without its files: enough to promise that it carries no risk of its own.
///
/// Built from the VM in full once per owner's report of it (`digest`), then kept while every VM's files stay in the
/// database: 80,000 of these are a few megabytes, where the files they stand for are four million rows.
public struct VMAuditFacts: Hashable, Sendable {
    public var id: VMID
    public var name: String
    public var owner: NodeName
    public var epoch: Epoch
    public var state: PowerState
    /// As the owner reported it (a policy may say otherwise).
    public var highlyAvailable: Bool
    /// The fingerprint of the owner's report these facts were read from; `nil` when the database holds none (a row
    /// written before fingerprints existed), so the facts are read again at every audit until the next report.
    public var digest: String?
    /// The volumes the VM's files sit on; `nil` stands for a file under no volume (only its node reaches it).
    public var volumes: Set<VolumeID?>
    /// Where its next checkpoint or smart paging file would be written (issue 24).
    public var nextFileVolumes: Set<VolumeID?>
    /// Whether any of its files carries a problem (`file-missing`, `chain-broken`, `disk-needs-log-replay`).
    public var hasProblem: Bool
    public var checkpointCount: Int
    /// The longest disk chain, in files.
    public var chainDepth: Int

    public init(_ vm: VM, digest: String?) {
        id = vm.id
        name = vm.name
        owner = vm.owner
        epoch = vm.ownership.epoch
        state = vm.state
        highlyAvailable = vm.highlyAvailable
        self.digest = digest
        volumes = Set(vm.files.map(\.location.volume))
        nextFileVolumes = Set(vm.nextFiles.map(\.location.volume))
        hasProblem = vm.files.contains { $0.problem != nil }
        checkpointCount = vm.checkpoints.count
        chainDepth = vm.chains.map(\.elements.count).max() ?? 0
    }

    /// The order the audit lists VMs in.
    public static func auditOrder(_ lhs: VMAuditFacts, _ rhs: VMAuditFacts) -> Bool {
        (lhs.name, lhs.id) < (rhs.name, rhs.id)
    }
}
