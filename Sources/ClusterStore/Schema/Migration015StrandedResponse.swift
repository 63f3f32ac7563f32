/// A VM's stranding response (issue 25, `policy set --stranded refuse|repair`).
///
/// `ALTER TABLE … ADD COLUMN` with a constant default and a CHECK keeps every stored policy as it was (`refuse`, the
/// default: nothing is moved that an administrator did not ask for).
enum Migration015StrandedResponse {
    static let identifier = "015-stranded-response"

    static let sql = """
        ALTER TABLE placement_policy ADD COLUMN stranded TEXT NOT NULL DEFAULT 'refuse'
            CHECK (stranded IN ('refuse', 'repair'));
        """
}
