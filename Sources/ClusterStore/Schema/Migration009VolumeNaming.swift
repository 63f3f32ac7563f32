/// Who may rename a volume (issue 20): the node that first reported its marker, or an administrator.
///
/// `named_by` is that node; NULL once an administrator named the volume (then only an administrator renames it), or
/// for volumes registered before this migration (the next report sets it).
enum Migration009VolumeNaming {
    static let identifier = "009-volume-naming"

    static let sql = """
        ALTER TABLE volume ADD COLUMN named_by TEXT;
        ALTER TABLE volume ADD COLUMN named_by_admin INTEGER NOT NULL DEFAULT 0 CHECK (named_by_admin IN (0, 1));
        """
}
