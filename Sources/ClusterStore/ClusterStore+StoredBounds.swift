import ChainModel
import GRDB

extension ClusterStore {
    /// Stored values outside `ValueBounds` (written by an older version, or by hand), each as a sentence for the log.
    ///
    /// They are not fatal: the engine clamps every value it sums, the owner's next report replaces a VM's, and a VM
    /// whose epoch reached the bound is refused a migration with `epoch-exhausted`. At most `limit` are listed. A
    /// file's size is not among them: documents are read with sizes clamped (`StoredInventory`), and reading every
    /// document here would cost seconds at 80,000 VMs.
    public func valuesOutOfBounds(limit: Int = 20) throws(StoreError) -> [String] {
        try translatingErrors {
            try writer.read { db in
                var found: [String] = []
                let checks: [(sql: String, describe: (Row) -> String)] = [
                    (
                        "SELECT name, memory_mib FROM vm WHERE memory_mib < 0 OR memory_mib > \(ValueBounds.memoryMiB)",
                        { "VM \(PrintableText.escape($0[0] as String)) has memoryMiB \($0[1] as Int64)" }
                    ),
                    (
                        "SELECT name, epoch FROM vm WHERE epoch > \(ValueBounds.epoch)",
                        { "VM \(PrintableText.escape($0[0] as String)) has epoch \($0[1] as Int64)" }
                    ),
                    (
                        "SELECT name, memory_mib FROM node WHERE memory_mib < 0 OR memory_mib > \(ValueBounds.memoryMiB)",
                        { "node \(PrintableText.escape($0[0] as String)) offers memoryMiB \($0[1] as Int64)" }
                    ),
                ]
                for check in checks where found.count < limit {
                    let rows = try Row.fetchAll(db, sql: check.sql + " LIMIT \(limit - found.count)")
                    found += rows.map(check.describe)
                }
                return found
            }
        }
    }
}
