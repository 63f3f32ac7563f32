/// A directory where the hypervisor will write a VM's next files (issue 24): what the audit's
/// `checkpoint-location-local` judges before any such file exists.
public struct NextFileLocation: Hashable, Sendable {
    public enum Role: String, Hashable, Sendable, Codable {
        /// Hyper-V's checkpoint file location (`SnapshotFileLocation`): the next checkpoint's differencing disks,
        /// configuration and memory.
        case checkpoint
        /// Hyper-V's smart paging file.
        case smartPaging = "smart-paging"
    }

    public var role: Role
    /// As the owner sees it.
    public var path: String
    public var location: FileLocation

    public init(role: Role, path: String, location: FileLocation) {
        self.role = role
        self.path = path
        self.location = location
    }
}
