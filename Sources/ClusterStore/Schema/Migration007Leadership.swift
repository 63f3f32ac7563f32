/// Coordinator leadership for the embedded backend (issue 8): one row naming the active coordinator, its lease and
/// its token.
///
/// The token grows with every election, so a write guarded by an old token fails, as a write guarded by an old etcd
/// leader key's create revision does. The row is kept on resignation (expiry set to 0) so the token never restarts.
enum Migration007Leadership {
    static let identifier = "007-leadership"

    static let sql = """
        CREATE TABLE leadership (
            id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
            name TEXT NOT NULL,
            url TEXT NOT NULL,
            token INTEGER NOT NULL CHECK (token >= 1),
            expires_at INTEGER NOT NULL
        ) STRICT;

        CREATE TRIGGER leadership_token_only_grows BEFORE UPDATE OF token ON leadership
        WHEN NEW.token <= OLD.token
        BEGIN
            SELECT RAISE(ABORT, 'leadership-token: a new term needs a larger token');
        END;
        """
}
