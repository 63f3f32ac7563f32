import ChainModel
import Foundation
import GRDB

/// The hypervisor metadata the coordinator holds per VM (issue 23; `Migration012HypervisorMetadata`).
extension ClusterStore {
    /// A body held for a VM.
    public struct HeldMetadata: Sendable, Equatable {
        public var digest: String
        public var body: Data
        public var snapshots: Int
        public var receivedAt: Timestamp
    }

    /// Why an upload was not kept.
    public enum MetadataRefusal: Sendable, Equatable {
        /// The cluster does not know the VM.
        case unknownVM
        /// Another node owns it: only the owner's copy describes the domain as it runs.
        case notOwner(NodeName)
        /// The owner's last report named another digest (the upload is older or newer than the report).
        case notReported(String?)
    }

    /// Keeps `body` as the VM's metadata when `node` owns the VM and last reported exactly `digest`; the caller has
    /// checked that `digest` is the body's.
    public func holdMetadata(
        vm: VMID,
        from node: NodeName,
        digest: String,
        body: Data,
        leaves: [String],
        snapshots: Int,
        at now: Timestamp
    ) throws(StoreError) -> MetadataRefusal? {
        try translatingErrors {
            try writer.write { db -> MetadataRefusal? in
                guard
                    let row = try Row.fetchOne(
                        db,
                        sql: "SELECT owner, metadata_digest FROM vm WHERE id = ?",
                        arguments: [vm.rawValue]
                    )
                else { return .unknownVM }
                let owner = NodeName(row["owner"] as String)
                guard owner == node else { return .notOwner(owner) }
                let reported = row["metadata_digest"] as String?
                guard reported == digest else { return .notReported(reported) }
                let encodedLeaves = String(decoding: try JSONEncoder().encode(leaves), as: UTF8.self)
                try db.execute(
                    sql: """
                        INSERT INTO vm_metadata (vm_id, digest, body, leaves, snapshots, received_at)
                        VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT(vm_id) DO UPDATE SET digest = excluded.digest, body = excluded.body,
                            leaves = excluded.leaves, snapshots = excluded.snapshots,
                            received_at = excluded.received_at
                        """,
                    arguments: [vm.rawValue, digest, body, encodedLeaves, snapshots, now.databaseValue]
                )
                return nil
            }
        }
    }

    /// The body held for a VM, if any.
    public func heldMetadata(of vm: VMID) throws(StoreError) -> HeldMetadata? {
        try translatingErrors {
            try writer.read { db in
                try Row.fetchOne(
                    db,
                    sql: "SELECT digest, body, snapshots, received_at FROM vm_metadata WHERE vm_id = ?",
                    arguments: [vm.rawValue]
                ).map { row in
                    HeldMetadata(
                        digest: row["digest"],
                        body: row["body"],
                        snapshots: row["snapshots"],
                        receivedAt: Timestamp(millisecondsSinceEpoch: row["received_at"])
                    )
                }
            }
        }
    }

    /// The URI each node's libvirt is reached at, for the nodes that reported one.
    public func hypervisorURIs() throws(StoreError) -> [NodeName: String] {
        try translatingErrors {
            try writer.read { db in
                var uris: [NodeName: String] = [:]
                for row in try Row.fetchAll(
                    db,
                    sql: "SELECT name, hypervisor_uri FROM node WHERE hypervisor_uri IS NOT NULL"
                ) {
                    uris[NodeName(row[0] as String)] = row[1]
                }
                return uris
            }
        }
    }

    /// VMs `node` owns whose reported digest has no body here.
    static func missingMetadata(of node: NodeName, in db: Database) throws -> [VMID] {
        try String.fetchAll(
            db,
            sql: """
                SELECT v.id FROM vm v LEFT JOIN vm_metadata m ON m.vm_id = v.id
                WHERE v.owner = ? AND v.metadata_digest IS NOT NULL
                  AND (m.digest IS NULL OR m.digest <> v.metadata_digest)
                ORDER BY v.id
                """,
            arguments: [node.rawValue]
        ).map(VMID.init(rawValue:))
    }

    /// Stored leaves; text that is not a JSON list of strings reads as none (the failover then holds the VM as stale,
    /// and a stored value never stops the coordinator).
    static func decodeLeaves(_ text: String?) -> [String] {
        guard let text, let leaves = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else { return [] }
        return leaves
    }
}
