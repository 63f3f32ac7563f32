import ChainModel
import GRDB

/// A VM with its epoch, as told to an agent at readmission.
public struct OwnedVM: Hashable, Sendable {
    public var id: VMID
    public var epoch: Epoch
}

extension ClusterStore {
    /// Persists a node's state (SPEC §6) with an event saying why; `actor` is `failover`, or the admin.
    public func setNodeState(
        _ node: NodeName,
        to state: NodeState,
        because: String,
        actor: String,
        at now: Timestamp,
        term: LeaderTerm? = nil
    ) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                try Self.requireLeader(term, in: db)
                try db.execute(
                    sql: "UPDATE node SET state = ? WHERE name = ?",
                    arguments: [state.rawValue, node.rawValue]
                )
                guard db.changesCount > 0 else { throw StoreError(.danglingReference, "no node is named \(node)") }
                try Self.event(
                    kind: "node-\(state.rawValue)",
                    node: node,
                    actor: actor,
                    message: "\(node) is \(state.rawValue): \(because)",
                    at: now,
                    in: db
                )
            }
        }
    }

    /// A VM left where it is after its node failed: why, as a summary and as the JSON array of reasons.
    public struct FailoverBlock: Sendable {
        public var vm: VMID
        public var node: NodeName
        public var summary: String
        public var reasons: String

        public init(vm: VMID, node: NodeName, summary: String, reasons: String) {
            self.vm = vm
            self.node = node
            self.summary = summary
            self.reasons = reasons
        }
    }

    /// Records a VM as `failover-blocked`; `reasons` is the JSON array of reasons.
    public func blockFailover(
        vm: VMID,
        node: NodeName,
        summary: String,
        reasons: String,
        at now: Timestamp
    ) throws(StoreError) {
        try blockFailovers([FailoverBlock(vm: vm, node: node, summary: summary, reasons: reasons)], at: now)
    }

    /// Records VMs as `failover-blocked`, all in one transaction: a failed node with a thousand VMs no target can take
    /// costs one sync, not a thousand.
    public func blockFailovers(_ blocks: [FailoverBlock], at now: Timestamp) throws(StoreError) {
        guard !blocks.isEmpty else { return }
        try translatingErrors {
            try writer.write { db in
                for block in blocks {
                    try db.execute(
                        sql: """
                            INSERT INTO failover_block (vm_id, node, summary, reasons, blocked_at) VALUES (?, ?, ?, ?, ?)
                            ON CONFLICT(vm_id) DO UPDATE SET node = excluded.node, summary = excluded.summary,
                                reasons = excluded.reasons, blocked_at = excluded.blocked_at
                            """,
                        arguments: [
                            block.vm.rawValue, block.node.rawValue, block.summary, block.reasons, now.databaseValue,
                        ]
                    )
                    try Self.event(
                        kind: "failover-blocked",
                        vm: block.vm,
                        node: block.node,
                        actor: "failover",
                        message: "left on \(block.node): \(block.summary)",
                        at: now,
                        in: db
                    )
                }
            }
        }
    }

    /// `vm clear`: forgets the VM's `failover-blocked` state and its counted failovers.
    ///
    /// Returns whether it was blocked.
    @discardableResult
    public func clearFailover(vm: VMID, actor: String, at now: Timestamp) throws(StoreError) -> Bool {
        try translatingErrors {
            try writer.write { db in
                try db.execute(sql: "DELETE FROM failover_block WHERE vm_id = ?", arguments: [vm.rawValue])
                let wasBlocked = db.changesCount > 0
                try db.execute(
                    sql: "UPDATE vm SET failover_cleared_at = ? WHERE id = ?",
                    arguments: [now.databaseValue, vm.rawValue]
                )
                try Self.event(
                    kind: "vm-cleared",
                    vm: vm,
                    actor: actor,
                    message: wasBlocked ? "failover-blocked and failover count cleared" : "failover count cleared",
                    at: now,
                    in: db
                )
                return wasBlocked
            }
        }
    }

    /// Committed automatic failovers per VM since its last `vm clear` and newer than `since`, and the blocked VMs with
    /// their summaries: what the failover threshold and `failover-blocked` are judged from.
    public func failoverRecord(
        since: Timestamp
    ) throws(StoreError) -> (
        failovers: [VMID: [Timestamp]], blocked: [VMID: String]
    ) {
        try translatingErrors {
            try writer.read { db in
                var failovers: [VMID: [Timestamp]] = [:]
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT m.vm_id, m.updated_at FROM migration m JOIN vm v ON v.id = m.vm_id
                        WHERE m.kind = 'failover' AND m.state = 'committed' AND m.updated_at > ?
                          AND m.updated_at > coalesce(v.failover_cleared_at, 0)
                        """,
                    arguments: [since.databaseValue]
                )
                for row in rows {
                    failovers[VMID(row[0] as String), default: []].append(
                        Timestamp(millisecondsSinceEpoch: row[1] as Int64)
                    )
                }
                var blocked: [VMID: String] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT vm_id, summary FROM failover_block") {
                    blocked[VMID(row[0] as String)] = row[1] as String
                }
                return (failovers, blocked)
            }
        }
    }

    /// What a readmitted agent is told: the VMs it owns, and those another node owns now that its inventory lists or
    /// that moved away from it (a committed migration or failover from it: its host may still define them, stale).
    public func ownership(of node: NodeName) throws(StoreError) -> (owned: [OwnedVM], elsewhere: [OwnedVM]) {
        try translatingErrors {
            try writer.read { db in
                let owned = try Row.fetchAll(
                    db,
                    sql: "SELECT id, epoch FROM vm WHERE owner = ? ORDER BY id",
                    arguments: [node.rawValue]
                ).map { OwnedVM(id: VMID($0[0] as String), epoch: Epoch($0[1] as Int64)) }
                let elsewhere = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT v.id, v.epoch FROM vm v
                        WHERE v.owner <> ?
                          AND (EXISTS (SELECT 1 FROM vm_listing l WHERE l.vm_id = v.id AND l.node = ?)
                               OR EXISTS (SELECT 1 FROM migration m
                                          WHERE m.vm_id = v.id AND m.source = ? AND m.state = 'committed'))
                        ORDER BY v.id
                        """,
                    arguments: [node.rawValue, node.rawValue, node.rawValue]
                ).map { OwnedVM(id: VMID($0[0] as String), epoch: Epoch($0[1] as Int64)) }
                return (owned, elsewhere)
            }
        }
    }

    /// `node remove`: forgets a node that owns no VM (its mounts, listings and errors go with it).
    ///
    /// Refused with `conflict` while it owns VMs.
    public func removeNode(_ node: NodeName, actor: String, at now: Timestamp) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                let owned =
                    try Int.fetchOne(
                        db,
                        sql: "SELECT count(*) FROM vm WHERE owner = ?",
                        arguments: [node.rawValue]
                    ) ?? 0
                guard owned == 0 else {
                    throw StoreError(
                        .conflict,
                        "\(node) still owns \(owned) VM(s); migrate them, or wait for their failover, before removing it"
                    )
                }
                try db.execute(sql: "DELETE FROM discovered_disk WHERE node = ?", arguments: [node.rawValue])
                // Its volumes' names pass to the next node that reports the same name.
                try db.execute(sql: "UPDATE volume SET named_by = NULL WHERE named_by = ?", arguments: [node.rawValue])
                try db.execute(sql: "DELETE FROM node WHERE name = ?", arguments: [node.rawValue])
                guard db.changesCount > 0 else { throw StoreError(.danglingReference, "no node is named \(node)") }
                try Self.event(
                    kind: "node-removed",
                    node: node,
                    actor: actor,
                    message: "\(node) removed",
                    at: now,
                    in: db
                )
            }
        }
    }

    static func event(
        kind: String,
        vm: VMID? = nil,
        node: NodeName? = nil,
        actor: String,
        message: String,
        at now: Timestamp,
        in db: Database
    ) throws {
        try db.execute(
            sql: "INSERT INTO event (at, kind, vm_id, node, actor, message) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [now.databaseValue, kind, vm?.rawValue, node?.rawValue, actor, message]
        )
    }
}
