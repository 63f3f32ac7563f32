/// A checkpoint (snapshot): a point-in-time image of a VM.
///
/// Checkpoints form a tree per VM.
public struct Checkpoint: Hashable, Sendable, Codable {
    public var id: CheckpointID
    public var name: String
    public var parent: CheckpointID?
    public var created: Timestamp?

    public init(id: CheckpointID, name: String, parent: CheckpointID? = nil, created: Timestamp? = nil) {
        self.id = id
        self.name = name
        self.parent = parent
        self.created = created
    }
}
