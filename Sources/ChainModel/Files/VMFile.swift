/// One file of a VM's file set, as its owner's agent reported it.
public struct VMFile: Hashable, Sendable {
    public var location: FileLocation
    /// The path as the reporting node sees it, for messages.
    public var path: String
    public var kind: FileKind
    /// The disk format, for disk images.
    public var format: DiskFormat?
    public var size: Int64
    /// VHDX DataWriteGuid or VHD unique id, lowercase without braces; `nil` for other files.
    public var identifier: String?
    /// The checkpoint whose inventory entry names this file directly, if any.
    public var checkpoint: CheckpointID?
    public var problem: FileProblem?
    /// What the agent saw about `problem`, such as which parent_linkage did not match which DataWriteGuid.
    public var problemDetail: String?

    public init(
        location: FileLocation,
        path: String,
        kind: FileKind,
        format: DiskFormat? = nil,
        size: Int64 = 0,
        identifier: String? = nil,
        checkpoint: CheckpointID? = nil,
        problem: FileProblem? = nil,
        problemDetail: String? = nil
    ) {
        self.location = location
        self.path = path
        self.kind = kind
        self.format = format
        self.size = size
        self.identifier = identifier
        self.checkpoint = checkpoint
        self.problem = problem
        self.problemDetail = problemDetail
    }
}
