/// A differencing disk an agent found on a volume while scanning it, whether or not a VM uses it.
public struct DiscoveredDisk: Hashable, Sendable {
    public var volume: VolumeID
    public var relativePath: String
    /// As the reporting node sees it.
    public var path: String
    public var node: NodeName

    public init(volume: VolumeID, relativePath: String, path: String, node: NodeName) {
        self.volume = volume
        self.relativePath = relativePath
        self.path = path
        self.node = node
    }
}

/// An inventory entry an agent could not read (SPEC §4): recorded for that VM, the rest still arrives.
public struct InventoryError: Hashable, Sendable {
    public var node: NodeName
    public var vm: String?
    public var message: String

    public init(node: NodeName, vm: String?, message: String) {
        self.node = node
        self.vm = vm
        self.message = message
    }
}
