/// Probe nonces (SPEC §3) and the differencing disks agents find on volumes (for `orphan-disk`).
enum Migration003ProbesAndDiscoveredDisks {
    static let identifier = "003-probes-and-discovered-disks"

    static let sql = """
        -- A nonce an agent wrote under a volume's .chainkeeper/probe/; a node that reads one back
        -- proves it reaches the volume.
        CREATE TABLE volume_probe (
            volume_id TEXT NOT NULL REFERENCES volume(id) ON DELETE CASCADE,
            nonce TEXT NOT NULL CHECK (length(nonce) BETWEEN 8 AND 128),
            node TEXT NOT NULL REFERENCES node(name) ON DELETE CASCADE,
            written_at INTEGER NOT NULL,
            PRIMARY KEY (volume_id, nonce)
        ) STRICT;
        CREATE INDEX volume_probe_written ON volume_probe(written_at);

        CREATE TABLE discovered_disk (
            volume_id TEXT NOT NULL REFERENCES volume(id) ON DELETE CASCADE,
            relative_path TEXT NOT NULL,
            node TEXT NOT NULL REFERENCES node(name) ON DELETE CASCADE,
            path TEXT NOT NULL,
            reported_at INTEGER NOT NULL,
            PRIMARY KEY (volume_id, relative_path, node)
        ) STRICT;
        """
}
