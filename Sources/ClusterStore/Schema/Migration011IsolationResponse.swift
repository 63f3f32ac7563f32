/// A VM's isolation response (issue 22, SPEC §6 and §7's `policy set --isolation keep-running|stop`).
///
/// `ALTER TABLE … ADD COLUMN` with a constant default and a CHECK keeps every stored policy as it was
/// (`keep-running`, the default).
enum Migration011IsolationResponse {
    static let identifier = "011-isolation-response"

    static let sql = """
        ALTER TABLE placement_policy ADD COLUMN isolation TEXT NOT NULL DEFAULT 'keep-running'
            CHECK (isolation IN ('keep-running', 'stop'));
        """
}
