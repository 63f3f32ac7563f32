/// The file table's index by volume path holds disks only (issue 27): a 1,000-VM report writes 51,000 file rows, each
/// index a B-tree insert per row on the writer, and the one query that needs it asks whether a discovered disk is some
/// VM's disk (`orphan-disk`): a third of the rows.
///
/// `file_on_volume` (a location is unique per VM) and `file_checkpoint` stay: every read of a node's VMs (what-if,
/// failover rounds) scans the narrow `file_checkpoint`, and the wide unique index in its place made ingest no faster.
enum Migration017DisksByVolumePath {
    static let identifier = "017-disks-by-volume-path"

    static let sql = """
        DROP INDEX file_volume_path;
        CREATE INDEX file_disk_on_volume ON file(volume_id, relative_path) WHERE kind = 'disk';
        """
}
