/// The coordinator's HTTP and work limits (`limits` in its config; not in the SPEC, defaults in docs/api.md).
///
/// Sized so that an attacker without a token, a client that never finishes a request, or an admin who runs heavy work
/// in a loop cannot hold a heartbeat: every connection is counted and timed, every piece of blocking work waits for a
/// bounded lane.
public struct ServerLimits: Sendable, Equatable {
    /// The listen backlog of every listener: as deep as the kernel allows (it caps this at `net.core.somaxconn`).
    public static let listenBacklog = 4_096

    /// Open connections on one listener, in all.
    ///
    /// Kept under the process's file-descriptor limit (raised to its hard limit at start), leaving room for the
    /// database, hooks and etcd.
    public var connections = 4_096
    /// Open connections from one peer address on one listener: one client cannot take them all.
    public var connectionsPerAddress = 256
    /// A connection with no request under way (or whose request head has not arrived whole) for this long is closed:
    /// the idle and the header-read timeout.
    public var idleTimeout: Duration = .seconds(30)
    /// A request body that has not arrived whole this long after its head is cut off.
    public var bodyTimeout: Duration = .seconds(60)
    /// Admin and dashboard requests that run at once (each may block a thread on SQLite).
    public var adminWorkers = 2
    /// Admin requests admitted to wait for a worker; beyond them, 503 `busy`.
    public var adminQueue = 32
    /// Reports admitted to wait for the report lane (one at a time is written); beyond them, 503 `busy` (the agent
    /// keeps the report in its outbox and sends it again).
    public var reportQueue = 16
    /// Failed authentications from one address in a minute before each further one is answered 429 after a second.
    public var failedAuthenticationsPerMinute = 10

    public init() {}
}
