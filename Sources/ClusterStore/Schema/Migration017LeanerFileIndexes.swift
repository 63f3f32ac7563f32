/// The file table's indexes, leaner (issue 27): a 1,000-VM report writes 51,000 file rows, and each index is a B-tree
/// insert per row that SQLite pays on the writer, the one thread every commit waits for.
///
/// - `file_location` replaces `file_on_volume` (the same uniqueness: a node-local file, NULL there, was never in it) and
///   covers every lookup by VM, so `file_checkpoint` goes: the foreign key to `checkpoint` is checked through its
///   `vm_id` prefix, a VM's few dozen rows.
/// - `file_disk_on_volume` replaces `file_volume_path` for the one query that needs it, whether a discovered disk is
///   some VM's disk (`orphan-disk`): only disks are indexed, a third of the rows.
enum Migration017LeanerFileIndexes {
    static let identifier = "017-leaner-file-indexes"

    static let sql = """
        DROP INDEX file_checkpoint;
        DROP INDEX file_on_volume;
        CREATE UNIQUE INDEX file_location ON file(vm_id, volume_id, relative_path);
        DROP INDEX file_volume_path;
        CREATE INDEX file_disk_on_volume ON file(volume_id, relative_path) WHERE kind = 'disk';
        """
}
