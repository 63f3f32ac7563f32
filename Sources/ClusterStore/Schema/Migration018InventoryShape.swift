/// `vm.inventory_shape`: a SHA-256 of a VM's stored rows without the values a file changes in place (issue 27).
///
/// A running VM's disks grow between two reports, so most reports change most VMs by a file's size alone; rewriting
/// the VM's ~100 checkpoint, file, chain and link rows for that made a report in which every VM changed slower than
/// its first one. When the shape of the new rows is the stored one, only the file rows whose format, size, identifier
/// or problem changed are updated, in place (`ClusterStore.writeInventory`). NULL (every existing row) means "not
/// known": the next change rewrites the VM's rows and records it, so the column needs no backfill.
enum Migration018InventoryShape {
    static let identifier = "018-inventory-shape"

    static let sql = """
        ALTER TABLE vm ADD COLUMN inventory_shape TEXT;
        """
}
