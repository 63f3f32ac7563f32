import ChainModel
import ClusterAPI
import Foundation

/// Where a node's VMs come from (SPEC §4): the one interface both drivers implement, and a third would.
///
/// A driver turns the hypervisor's own records into `InventoryVM` values (the SPEC §4 object): identity, state, HA,
/// memory, the files the hypervisor names (configuration and state files, each checkpoint's memory file, the current
/// and per-checkpoint disks) and disks that are not files. It does not walk chains: `FileSetBuilder` does that for
/// every driver, through the real headers. A bad entry is an inventory error for that VM only; `read` throws only when
/// the whole source is unusable (the export is missing, the directory unreadable).
public protocol InventorySource: Sendable {
    /// The driver's name as reported to the coordinator: `hyperv-json` or `libvirt`.
    var driver: InventoryDriver { get }

    func read() throws(InventoryReadError) -> (vms: [InventoryVM], errors: [ReportedInventoryError])
}

/// The whole inventory could not be read.
public struct InventoryReadError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// `hyperv-json`: the JSON export of `Get-VM` and `Get-VMSnapshot` (SPEC §4).
public struct HyperVJSONSource: InventorySource {
    public var path: String
    public var driver: InventoryDriver { .hypervJSON }

    public init(path: String) { self.path = path }

    public func read() throws(InventoryReadError) -> (vms: [InventoryVM], errors: [ReportedInventoryError]) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw InventoryReadError("inventory \(path) cannot be opened (missing or unreadable)")
        }
        defer { try? handle.close() }
        // A 1,000-VM export is a few MiB; refuse anything past 256 MiB.
        let limit = 256 << 20
        guard let data = try? handle.read(upToCount: limit + 1) else {
            throw InventoryReadError("inventory \(path) cannot be read")
        }
        guard data.count <= limit else { throw InventoryReadError("inventory \(path) is larger than 256 MiB") }
        do {
            return try HyperVInventory.parse(data)
        } catch {
            throw InventoryReadError("inventory \(path): \(error)")
        }
    }
}
