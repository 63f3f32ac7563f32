/// What the coordinator tells an agent with each heartbeat and report: the settings the agent must follow.
public struct CoordinatorAnnouncement: Codable, Sendable, Hashable {
    /// The agent lease (SPEC §6), in milliseconds.
    public var leaseTTLMilliseconds: Int64
    /// How often each volume's probe nonce must be renewed (SPEC §3), in milliseconds.
    public var probeIntervalMilliseconds: Int64
    /// How long an isolated node waits before it stops the VMs whose isolation response is `stop` (SPEC §6), in
    /// milliseconds; absent from older coordinators (the agent then uses the default, 30 s).
    public var isolationTimeoutMilliseconds: Int64?

    public init(
        leaseTTLMilliseconds: Int64,
        probeIntervalMilliseconds: Int64,
        isolationTimeoutMilliseconds: Int64? = nil
    ) {
        self.leaseTTLMilliseconds = leaseTTLMilliseconds
        self.probeIntervalMilliseconds = probeIntervalMilliseconds
        self.isolationTimeoutMilliseconds = isolationTimeoutMilliseconds
    }
}

/// An agent's heartbeat.
public struct Heartbeat: Codable, Sendable, Hashable {
    /// Reports still waiting in the agent's outbox (0 when it is up to date).
    public var outbox: Int
    /// `false` when the agent holds no lease (just started, or fenced itself) and asks to be readmitted: the answer
    /// then lists the VMs it owns.
    public var admitted: Bool?

    /// Storage heartbeats (SPEC §6): whether it writes its own, and what it read of its peers'.
    public var storage: StorageHeartbeatReport?
    /// The `isolationStopDigest` of the last `isolationStop` list it was sent (the list is sent again only when the
    /// coordinator's differs).
    public var isolationStopDigest: String?

    public init(outbox: Int, admitted: Bool? = nil, storage: StorageHeartbeatReport? = nil) {
        self.outbox = outbox
        self.admitted = admitted
        self.storage = storage
    }
}

/// What an agent says about storage heartbeats with each heartbeat (SPEC §6).
public struct StorageHeartbeatReport: Codable, Sendable, Hashable {
    /// Its last round of writes reached every shared volume in time.
    public var writes: Bool
    /// Its peers' records as it last read them, the stalest first (at most `maxReadings`, within `maxEncodedBytes`).
    public var readings: [StorageReadingJSON]
    /// Shared volumes its writes have not reached, with how long since the last write there that did (SPEC §6,
    /// `volume-lost`); at most `maxLost`.
    public var lost: [LostVolumeJSON]?

    /// At most this many lost volumes are taken from one heartbeat.
    public static let maxLost = 256
    /// At most this many readings, and this many stopped VMs in each, are taken from one heartbeat.
    public static let maxReadings = 512
    public static let maxStoppedPerReading = 256
    /// An agent trims its readings (the freshest first) to keep its heartbeat under this size.
    public static let maxEncodedBytes = 192 * 1024

    public init(writes: Bool, readings: [StorageReadingJSON], lost: [LostVolumeJSON]? = nil) {
        self.writes = writes
        self.readings = readings
        self.lost = lost
    }
}

/// A shared volume an agent's storage heartbeat writes have not reached.
public struct LostVolumeJSON: Codable, Sendable, Hashable {
    public var volume: String
    /// How long since a write there last succeeded (or since the agent started failing to write there), on the
    /// agent's monotonic clock.
    public var forMilliseconds: Int64

    public init(volume: String, forMilliseconds: Int64) {
        self.volume = volume
        self.forMilliseconds = forMilliseconds
    }
}

/// One peer's record on one volume, as a reader reports it.
public struct StorageReadingJSON: Codable, Sendable, Hashable {
    public var node: String
    public var volume: String
    /// How long the reader has seen the record's counter unchanged, on its own monotonic clock.
    public var unchangedForMilliseconds: Int64
    /// The record's counter and condition (`running`, `isolated`, `fenced`); absent when the slot held no whole record.
    public var counter: UInt64?
    public var condition: String?
    /// The HA VMs the record lists stopped, with the epochs.
    public var stopped: [VMEpochJSON]?

    public init(
        node: String,
        volume: String,
        unchangedForMilliseconds: Int64,
        counter: UInt64?,
        condition: String?,
        stopped: [VMEpochJSON]?
    ) {
        self.node = node
        self.volume = volume
        self.unchangedForMilliseconds = unchangedForMilliseconds
        self.counter = counter
        self.condition = condition
        self.stopped = stopped
    }
}

/// A VM and its epoch, as the coordinator tells a readmitted agent.
public struct VMEpochJSON: Codable, Sendable, Hashable {
    public var vmId: String
    public var epoch: Int64

    public init(vmId: String, epoch: Int64) {
        self.vmId = vmId
        self.epoch = epoch
    }
}

/// The answer to a heartbeat: the settings, and whether the node holds a lease (SPEC §6).
///
/// Not admitted means: act on nothing (the node is down or being failed over). An agent that asked for readmission
/// gets `owned` (its VMs, with epochs) and `elsewhere` (VMs its inventory lists that another node owns now).
public struct HeartbeatAnswer: Codable, Sendable, Hashable {
    public var leaseTTLMilliseconds: Int64
    public var probeIntervalMilliseconds: Int64
    public var isolationTimeoutMilliseconds: Int64?
    public var admitted: Bool
    /// The node's state: `up`, `down`, `fenced` or `draining`.
    public var state: String
    public var message: String
    public var owned: [VMEpochJSON]?
    public var elsewhere: [VMEpochJSON]?
    /// `true` while the coordinator rebuilds ownership from the agents (its first lease on a new, lost or restored
    /// database) and has no report from this node yet: the agent rescans and reports at once.
    public var reportWanted: Bool?
    /// The volumes this node reaches that another node reaches too: where it writes its storage heartbeat (SPEC §6).
    public var sharedVolumes: [String]?
    /// The HA VMs this node owns whose isolation response is `stop` (SPEC §6), with the list's digest; sent when the
    /// heartbeat's `isolationStopDigest` differs, absent otherwise (and while the coordinator does not know it yet).
    public var isolationStop: [String]?
    public var isolationStopDigest: String?
    /// The peers whose storage heartbeat records this node reads (SPEC §6 at scale: a ring of readers per volume, and
    /// every node whose lease is running out); absent from older coordinators: it reads every peer.
    public var readPeers: [String]?

    public init(
        settings: CoordinatorAnnouncement,
        admitted: Bool,
        state: String,
        message: String,
        owned: [VMEpochJSON]? = nil,
        elsewhere: [VMEpochJSON]? = nil
    ) {
        leaseTTLMilliseconds = settings.leaseTTLMilliseconds
        probeIntervalMilliseconds = settings.probeIntervalMilliseconds
        isolationTimeoutMilliseconds = settings.isolationTimeoutMilliseconds
        self.admitted = admitted
        self.state = state
        self.message = message
        self.owned = owned
        self.elsewhere = elsewhere
    }

    public var settings: CoordinatorAnnouncement {
        CoordinatorAnnouncement(
            leaseTTLMilliseconds: leaseTTLMilliseconds,
            probeIntervalMilliseconds: probeIntervalMilliseconds,
            isolationTimeoutMilliseconds: isolationTimeoutMilliseconds
        )
    }
}

/// The answer to a report: what it changed, and the current settings.
public struct ReportAnswer: Codable, Sendable, Hashable {
    public var registered: Int
    public var updated: Int
    /// Known VMs the report describes exactly as stored.
    public var unchanged: Int
    public var listedOnly: Int
    public var errors: Int
    public var settings: CoordinatorAnnouncement
    /// `true` when other nodes report a volume this node's mount of is not verified yet (it read back only its own
    /// probe nonce, which never proves a volume shared): the agent reads the probe directories again soon, instead of
    /// at its next rescan.
    public var probeAgain: Bool?
    /// VMs of this node whose reported hypervisor metadata digest the coordinator holds no body for: the agent uploads
    /// them (`POST /v1/agents/{node}/metadata`).
    public var missingMetadata: [String]?
    /// VMs the report listed as unchanged whose entry this coordinator does not hold from this node (it never had it,
    /// the VM changed owner, ownership is being rebuilt): the agent sends their whole entries with its next report.
    public var resendVMs: [String]?

    public init(
        registered: Int,
        updated: Int,
        unchanged: Int,
        listedOnly: Int,
        errors: Int,
        settings: CoordinatorAnnouncement
    ) {
        self.registered = registered
        self.updated = updated
        self.unchanged = unchanged
        self.listedOnly = listedOnly
        self.errors = errors
        self.settings = settings
    }
}
