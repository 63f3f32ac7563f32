import ClusterAPI

extension InventoryVM {
    /// A definition the coordinator sent (an adopted VM, or one to preflight), as an inventory entry.
    public init(_ definition: VMDefinition) {
        self.init(
            id: definition.id,
            name: definition.name,
            state: definition.state,
            highlyAvailable: definition.highlyAvailable,
            memoryMiB: definition.memoryMiB,
            configurationPath: definition.configurationPath,
            runtimeStatePath: definition.runtimeStatePath,
            guestStatePath: definition.guestStatePath,
            disks: definition.disks,
            snapshots: definition.snapshots.map {
                Snapshot(
                    id: $0.id,
                    name: $0.name,
                    parentId: $0.parentId,
                    created: $0.created,
                    configurationPath: $0.configurationPath,
                    memoryPath: $0.memoryPath,
                    savedStatePath: $0.savedStatePath,
                    disks: $0.disks
                )
            }
        )
    }
}
