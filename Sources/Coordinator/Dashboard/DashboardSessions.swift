import Crypto
import Foundation
import Synchronization

/// Dashboard sessions: a random id in an HttpOnly, SameSite=Strict cookie, kept in memory only.
///
/// A session is made by exchanging an admin token at `/ui/login`. It ends after `idleTimeout` without use, after
/// `lifetime` in any case, at logout, when the coordinator restarts, and as soon as the token it was made with is
/// no longer configured (a SIGHUP reload that drops a token ends its sessions).
final class DashboardSessions: Sendable {
    struct Session: Sendable {
        let id: String
        /// SHA-256 of the admin token that opened it.
        let tokenDigest: [UInt8]
        let created: ContinuousClock.Instant
        var lastUsed: ContinuousClock.Instant
    }

    static let cookieName = "chainkeeper_session"
    let idleTimeout: Duration
    let lifetime: Duration
    let capacity: Int
    private let sessions = Mutex<[String: Session]>([:])
    /// Signs the per-viewer form token (`csrfToken(for:)`); new on every start, like the sessions.
    private let formKey = SymmetricKey(size: .bits256)

    init(idleTimeout: Duration = .seconds(3600), lifetime: Duration = .seconds(12 * 3600), capacity: Int = 1024) {
        self.idleTimeout = idleTimeout
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// Opens a session for the holder of an admin token; returns its id (the cookie value).
    func open(tokenDigest: [UInt8]) -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let id = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let now = ContinuousClock.now
        sessions.withLock { table in
            table = table.filter { !expired($0.value, at: now) }
            if table.count >= capacity, let oldest = table.values.min(by: { $0.lastUsed < $1.lastUsed }) {
                table[oldest.id] = nil
            }
            table[id] = Session(id: id, tokenDigest: tokenDigest, created: now, lastUsed: now)
        }
        return id
    }

    /// The live session with this id, touched; nil when unknown, expired, or opened with a token no longer accepted.
    func session(_ id: String, stillAccepted: ([UInt8]) -> Bool) -> Session? {
        let now = ContinuousClock.now
        return sessions.withLock { table in
            guard var session = table[id] else { return nil }
            guard !expired(session, at: now), stillAccepted(session.tokenDigest) else {
                table[id] = nil
                return nil
            }
            session.lastUsed = now
            table[id] = session
            return session
        }
    }

    func close(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }

    var count: Int { sessions.withLock { $0.count } }

    private func expired(_ session: Session, at now: ContinuousClock.Instant) -> Bool {
        now - session.lastUsed > idleTimeout || now - session.created > lifetime
    }

    /// The hidden form field every dashboard form carries: an HMAC of who is viewing, so a page from another site
    /// cannot know it.
    func csrfToken(for viewer: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data(viewer.utf8), using: formKey)
        return Data(code).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `presented` is the form token for `viewer` (compared in constant time).
    func checkCSRF(_ presented: String, for viewer: String) -> Bool {
        AccessControl.constantTimeEquals(Array(presented.utf8), Array(csrfToken(for: viewer).utf8))
    }
}
