import ChainModel
import DecisionEngine

/// Storage heartbeats in the simulation (SPEC §6): records written whole to each shared volume, peers reading them and
/// judging their age on their own clock, the isolation response, and the evidence the migration machine is given
/// about a target that has not adopted.
extension Simulation {
    /// Records are written every lease/5 and read every lease/10.
    var writePeriod: Duration { scenario.leaseTTL / 5 }
    var readPeriod: Duration { scenario.leaseTTL / 10 }

    /// The volumes `node` shares with at least one other node.
    func sharedVolumes(of node: NodeName) -> [VolumeID] {
        reach.filter { $0.value.contains(node) && $0.value.count > 1 }.keys.sorted()
    }

    /// One step of a node's storage heartbeat: write its record when due, read its peers', and apply the isolation
    /// response.
    mutating func storageStep(_ name: NodeName) {
        guard var node = nodes[name], node.agentActive(at: now), scenario.storageHeartbeats else { return }
        let volumes = sharedVolumes(of: name)
        guard !volumes.isEmpty else { return }
        if now >= node.nextStorageWrite {
            node.nextStorageWrite = now + writePeriod
            if !node.storageCut {
                node.counter += 1
                let view = view()
                let entries = node.owned.sorted().compactMap { vm -> StorageHeartbeat.Entry? in
                    guard let definition = definitions[vm], view.isHighlyAvailable(definition) else { return nil }
                    return .init(vm: vm, epoch: .initial, running: node.running.contains(vm))
                }
                let record = StorageHeartbeat(
                    node: name,
                    counter: node.counter,
                    condition: node.lease.condition(at: now),
                    vms: entries
                )
                for volume in volumes { storage[volume, default: [:]][name] = record }
                node.lease.storageWritten(issuedAt: now)
                node.storageLostSince = nil
            } else if node.storageLostSince == nil {
                node.storageLostSince = now - writePeriod
            }
        }
        if now.milliseconds % readPeriod.wholeMilliseconds == 0, !node.storageCut {
            read(into: &node, volumes: volumes)
        }
        nodes[name] = node
        respondToIsolation(name)
    }

    /// Reads every peer's slot on the volumes `node` shares; a record unchanged for a lease is reported at once.
    private mutating func read(into node: inout SimulatedNode, volumes: [VolumeID]) {
        for volume in volumes {
            for peer in (reach[volume] ?? []).sorted() where peer != node.name {
                let slot = SimulatedNode.PeerSlot(node: peer, volume: volume)
                let record = storage[volume]?[peer]
                let before = node.seen[slot]
                if before == nil || before?.counter != record?.counter {
                    node.seen[slot] = .init(counter: record?.counter, since: now, record: record, readAt: now)
                    continue
                }
                node.seen[slot]?.readAt = now
                if let before, now.since(before.since) > scenario.leaseTTL,
                    now.since(before.since) - readPeriod <= scenario.leaseTTL
                {
                    node.nextHeartbeat = now
                }
            }
        }
    }

    /// What `node` reports with its heartbeat: every peer slot it reads.
    func readings(of node: SimulatedNode) -> [StorageReading] {
        node.seen.keys.sorted().compactMap { slot in
            guard let seen = node.seen[slot], now.since(seen.readAt) <= readPeriod * 2 else { return nil }
            return StorageReading(
                node: slot.node,
                volume: slot.volume,
                reader: node.name,
                unchangedFor: now.since(seen.since),
                record: seen.record
            )
        }
    }

    /// Whether a peer's record, as `node` last read it, shows another node still running (fresh and `running`).
    func peersRunning(_ node: SimulatedNode) -> Bool {
        node.seen.values.contains { seen in
            now.since(seen.readAt) <= readPeriod * 2 && now.since(seen.since) < scenario.leaseTTL
                && seen.record?.condition == .running
        }
    }

    /// An isolated agent stops its `stop` VMs once it has been isolated for `isolationTimeout` while peers still run.
    private mutating func respondToIsolation(_ name: NodeName) {
        guard let node = nodes[name] else { return }
        let stops = node.lease.stopsIsolatedVMs(
            at: now,
            isolationTimeout: scenario.isolationTimeout,
            peersRunning: peersRunning(node)
        )
        guard stops else { return }
        let victims = node.running.filter { policies[$0]?.isolation == .stop }.sorted()
        guard !victims.isEmpty else { return }
        for vm in victims {
            nodes[name]?.running.remove(vm)
            nodes[name]?.stoppedByIsolation.insert(vm)
        }
        record(
            "\(name) agent",
            "isolated for \(DurationText.format(scenario.isolationTimeout)) while peers run: stopped "
                + "[\(victims.map(\.rawValue).joined(separator: ", "))] (isolation response stop)"
        )
    }

    /// The coordinator's audit of lost volumes (SPEC §6 `volume-lost`): a node whose heartbeats say its storage writes
    /// have failed for longer than `storageLossTimeout`, judged by the real audit; logged when the risks change.
    mutating func auditVolumeLoss() {
        var lost: [NodeName: [VolumeID: Duration]] = [:]
        for name in nodeOrder {
            guard let node = nodes[name], let since = node.storageLostSince, node.agentActive(at: now),
                !node.partitioned,
                now.since(since) > scenario.storageLossTimeout
            else { continue }
            for volume in sharedVolumes(of: name) { lost[name, default: [:]][volume] = now.since(since) }
        }
        let view = view()
        let owned = nodeOrder.flatMap { self.vms(ownedBy: $0) }
        let risks = ClusterAudit.risks(in: view, AuditInput(vms: owned, lostVolumes: lost))
            .filter { $0.code == .volumeLost }
        let shown = Set(risks.map { "\($0.vm ?? "?") on \($0.volume ?? "?") (\($0.node?.rawValue ?? "?"))" })
        for entry in shown.subtracting(volumeLostShown).sorted() { record("audit", "volume-lost \(entry)") }
        for entry in volumeLostShown.subtracting(shown).sorted() { record("audit", "volume-lost cleared: \(entry)") }
        volumeLostShown = shown
    }

    /// What the coordinator knows about a target that has not adopted `vm`: declared down (or fenced), or its record
    /// lists the VM stopped.
    func evidence(about target: NodeName, for vm: VMID) -> MigrationMachine.TargetEvidence {
        switch nodeStates[target] {
        case .down, .fenced: return .declaredDown
        default: break
        }
        return manager.recordLists(target, vm, stoppedAt: .initial) ? .listsStopped : .none
    }

    /// The new invariant (SPEC §6): a node that can still renew its lease or write its storage heartbeat is not fenced,
    /// except for VMs whose isolation response is `stop`.
    mutating func checkFenceStopsOnlyTheCutOff(_ name: NodeName, stopping vms: Set<VMID>) {
        guard let node = nodes[name], node.agentActive(at: now) else { return }
        let canRenew = !node.partitioned && coordinatorAvailable && nodeStates[name]?.renewsLease == true
        let canWrite = !node.storageCut && !sharedVolumes(of: name).isEmpty
        guard canRenew || canWrite else { return }
        let wrongly = vms.filter { policies[$0]?.isolation != .stop }.sorted()
        guard !wrongly.isEmpty else { return }
        violate(
            "fencing \(name) stops [\(wrongly.map(\.rawValue).joined(separator: ", "))] although it can still "
                + (canRenew ? "renew its lease" : "write its storage heartbeat")
        )
    }
}
