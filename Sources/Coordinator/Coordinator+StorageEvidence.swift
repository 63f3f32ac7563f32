import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine

extension Coordinator {
    /// What is known about a migration's target that has not adopted: declared down or fenced (its stored state), or
    /// its storage heartbeat record lists the VM stopped at the migration's epoch.
    func evidence(about target: NodeName, for vm: VMID, at epoch: Epoch) async -> MigrationMachine.TargetEvidence {
        if let state = try? store.nodeState(named: target), state == .down || state == .fenced {
            return .declaredDown
        }
        return await failover.recordLists(target, vm, stoppedAt: epoch) ? .listsStopped : .none
    }
}

extension Coordinator {
    /// A heartbeat's storage readings as the failover manager takes them: every name checked, every number bounded,
    /// at most `StorageHeartbeatReport.maxReadings`; an entry out of bounds is dropped (a heartbeat is never refused).
    static func readings(_ report: StorageHeartbeatReport, by reader: NodeName) -> [StorageReading] {
        report.readings.prefix(StorageHeartbeatReport.maxReadings).compactMap { entry -> StorageReading? in
            guard (try? NameRule.name("node").check(entry.node)) != nil,
                (try? NameRule.identifier("volume").check(entry.volume)) != nil, !entry.volume.isEmpty
            else { return nil }
            let milliseconds = min(max(entry.unchangedForMilliseconds, 0), 86_400_000)
            let record = entry.condition.flatMap(StorageHeartbeat.Condition.init(rawValue:)).map { condition in
                StorageHeartbeat(
                    node: NodeName(entry.node),
                    counter: entry.counter ?? 0,
                    condition: condition,
                    vms: (entry.stopped ?? []).prefix(StorageHeartbeatReport.maxStoppedPerReading)
                        .filter { (try? NameRule.identifier("vm").check($0.vmId)) != nil && !$0.vmId.isEmpty }
                        .map { .init(vm: VMID($0.vmId), epoch: Epoch($0.epoch), running: false) }
                )
            }
            return StorageReading(
                node: NodeName(entry.node),
                volume: VolumeID(entry.volume),
                reader: reader,
                unchangedFor: .milliseconds(milliseconds),
                record: record
            )
        }
    }
}
