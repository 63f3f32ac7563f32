/// The hypervisor metadata a hand-off carries (issue 23): libvirt's domain and snapshot XML per VM, content-addressed.
///
/// `vm.metadata_digest` is what the owner last reported; `vm_metadata` holds the body of one digest per VM (the
/// latest that arrived), with the leaves it names for the failover's staleness check. `node.hypervisor_uri` is the
/// URI another node's libvirt migrates to.
enum Migration012HypervisorMetadata {
    static let identifier = "012-hypervisor-metadata"

    static let sql = """
        ALTER TABLE vm ADD COLUMN metadata_digest TEXT CHECK (metadata_digest IS NULL OR length(metadata_digest) = 71);
        ALTER TABLE node ADD COLUMN hypervisor_uri TEXT CHECK (hypervisor_uri IS NULL OR length(hypervisor_uri) <= 1024);
        CREATE TABLE vm_metadata (
            vm_id TEXT PRIMARY KEY NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
            digest TEXT NOT NULL CHECK (length(digest) = 71),
            body BLOB NOT NULL CHECK (length(body) <= 4194304),
            leaves TEXT NOT NULL,
            snapshots INTEGER NOT NULL CHECK (snapshots >= 0),
            received_at INTEGER NOT NULL
        ) STRICT;
        """
}
