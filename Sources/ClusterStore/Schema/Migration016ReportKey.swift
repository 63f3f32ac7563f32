/// `vm.report_key`: which agent entry the stored inventory came from (issue 27).
///
/// A fingerprint of the reporting node, the volumes it reported and the digest the agent gave the VM's entry. A later
/// report may then list the VM by that digest alone (`AgentReport.unchangedVMs`) and the coordinator counts it
/// unchanged without the 10 KB entry. NULL (every existing row, and any inventory written without a key) means "ask
/// for the whole entry", so the column needs no backfill.
enum Migration016ReportKey {
    static let identifier = "016-report-key"

    static let sql = """
        ALTER TABLE vm ADD COLUMN report_key TEXT;
        """
}
