/// Cheaper ingestion of large reports.
///
/// - `vm.inventory_digest` remembers a fingerprint of the owner's last report of the VM, so an unchanged VM costs one
///   row update.
/// - The checkpoint cycle check on INSERT walked every ancestor of every new checkpoint (a third of the time of a
///   1,000-VM report). On insert, a cycle through the new row needs an existing row whose parent is the new row; with
///   foreign keys on that cannot exist (the parent would have had to exist first), and with them off this trigger
///   finds it in one index lookup. The UPDATE trigger, where a real cycle can form, keeps its full walk.
enum Migration005InventoryDigest {
    static let identifier = "005-inventory-digest"

    static let sql = """
        ALTER TABLE vm ADD COLUMN inventory_digest TEXT;

        DROP TRIGGER checkpoint_no_cycle_on_insert;
        CREATE TRIGGER checkpoint_no_cycle_on_insert BEFORE INSERT ON checkpoint
        WHEN EXISTS (SELECT 1 FROM checkpoint c WHERE c.vm_id = NEW.vm_id AND c.parent_id = NEW.id)
        BEGIN
            SELECT RAISE(ABORT, 'checkpoint-cycle: a checkpoint already names the new one as its parent');
        END;
        """
}
