import ChainModel
import GRDB

extension ClusterStore {
    /// Takes leadership if nobody holds an unexpired lease; returns the new term, or `nil` when another coordinator
    /// holds it.
    ///
    /// A coordinator of the same name takes over at once: on one database file, the same name (its advertised URL)
    /// is the same coordinator restarted, as two processes cannot listen on one address. Every won election gets a
    /// larger token, so the earlier incarnation's writes are refused.
    public func campaign(as candidate: LeaderInfo, ttl: Duration, at now: Timestamp) throws(StoreError) -> LeaderTerm? {
        try translatingErrors {
            try writer.write { db in
                let row = try Row.fetchOne(db, sql: "SELECT name, token, expires_at FROM leadership WHERE id = 1")
                let expires = (now + ttl).databaseValue
                guard let row else {
                    try db.execute(
                        sql: "INSERT INTO leadership (id, name, url, token, expires_at) VALUES (1, ?, ?, 1, ?)",
                        arguments: [candidate.name, candidate.url, expires]
                    )
                    return LeaderTerm(leader: candidate, token: 1)
                }
                guard (row["expires_at"] as Int64) <= now.databaseValue || (row["name"] as String) == candidate.name
                else { return nil }
                let token = (row["token"] as Int64) + 1
                try db.execute(
                    sql: "UPDATE leadership SET name = ?, url = ?, token = ?, expires_at = ? WHERE id = 1",
                    arguments: [candidate.name, candidate.url, token, expires]
                )
                return LeaderTerm(leader: candidate, token: token)
            }
        }
    }

    /// Extends the term's lease; `not-leader` if the term has ended (expired, resigned, or another was elected).
    public func renew(_ term: LeaderTerm, ttl: Duration, at now: Timestamp) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                try db.execute(
                    sql: "UPDATE leadership SET expires_at = ? WHERE id = 1 AND token = ? AND expires_at > ?",
                    arguments: [(now + ttl).databaseValue, term.token, now.databaseValue]
                )
                guard db.changesCount == 1 else {
                    throw StoreError(.notLeader, "the leadership of \(term.leader.name) (term \(term.token)) has ended")
                }
            }
        }
    }

    /// Ends the term at once (the token is kept, so the next term's is larger).
    public func resign(_ term: LeaderTerm) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                try db.execute(
                    sql: "UPDATE leadership SET expires_at = 0 WHERE id = 1 AND token = ?",
                    arguments: [term.token]
                )
            }
        }
    }

    /// The coordinator holding an unexpired lease, if any.
    public func leader(at now: Timestamp) throws(StoreError) -> LeaderTerm? {
        try translatingErrors {
            try writer.read { db in
                try Row.fetchOne(
                    db,
                    sql: "SELECT name, url, token FROM leadership WHERE id = 1 AND expires_at > ?",
                    arguments: [now.databaseValue]
                ).map { LeaderTerm(leader: LeaderInfo(name: $0["name"], url: $0["url"]), token: $0["token"]) }
            }
        }
    }

    /// Inside a write: refuses with `not-leader` unless `term` is the current one (nothing to check without a term).
    static func requireLeader(_ term: LeaderTerm?, in db: Database) throws {
        guard let term else { return }
        let token = try Int64.fetchOne(db, sql: "SELECT token FROM leadership WHERE id = 1")
        guard token == term.token else {
            throw StoreError(
                .notLeader,
                "\(term.leader.name) is no longer the leader (term \(term.token) ended); the write was not made"
            )
        }
    }
}
