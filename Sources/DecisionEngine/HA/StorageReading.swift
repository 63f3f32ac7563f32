import ChainModel

/// What one agent read of another node's storage heartbeat record on one shared volume, as it reports it to the
/// coordinator (SPEC §6).
///
/// `unchangedFor` is how long the reader has seen the record's counter unchanged on its own monotonic clock: a lower
/// bound of the record's age (the write happened before the reader first saw it), so it can only understate how long a
/// node has been silent, never overstate it.
public struct StorageReading: Hashable, Sendable {
    /// Whose record.
    public var node: NodeName
    public var volume: VolumeID
    public var reader: NodeName
    public var unchangedFor: Duration
    /// The record as last read whole; `nil` when the slot holds none (never written, or unreadable).
    public var record: StorageHeartbeat?

    public init(
        node: NodeName,
        volume: VolumeID,
        reader: NodeName,
        unchangedFor: Duration,
        record: StorageHeartbeat?
    ) {
        self.node = node
        self.volume = volume
        self.reader = reader
        self.unchangedFor = unchangedFor
        self.record = record
    }
}
