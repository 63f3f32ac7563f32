import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `chainkeeper demo hypervisor`: what the demo's agent hooks run in place of Hyper-V.
///
/// Release takes the VM out of the source node's inventory, adopt puts it into the target's (from where release left
/// it, or, after a failover, from the fenced node's inventory), fence notes that the node's VMs stopped. Every step is
/// written to `hypervisor.log`, and inventories are replaced atomically, as a real exporter must.
struct DemoHypervisor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hypervisor",
        abstract: "The demo's stand-in hypervisor, run by its agents' hooks.",
        shouldDisplay: false
    )

    @Option(help: "The demo's directory.") var root: String

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let operation = environment["CHAINKEEPER_OPERATION"] ?? ""
        let vmID = environment["CHAINKEEPER_VM_ID"] ?? ""
        let name = environment["CHAINKEEPER_VM_NAME"] ?? vmID
        let epoch = environment["CHAINKEEPER_EPOCH"] ?? "?"
        let lock = open(root + "/hypervisor.lock", O_CREAT | O_RDWR, 0o644)
        defer { close(lock) }
        flock(lock, LOCK_EX)
        switch operation {
        case "release":
            let source = environment["CHAINKEEPER_SOURCE"] ?? ""
            if let entry = try take(vmID, from: source) {
                try JSONSerialization.data(withJSONObject: entry).write(to: URL(fileURLWithPath: parked(vmID)))
            }
            try log("\(source): \(name) shut down and unregistered (epoch \(epoch))")
        case "adopt":
            let target = environment["CHAINKEEPER_TARGET"] ?? ""
            var inventory = try read(target)
            if !inventory.contains(where: { $0["id"] as? String == vmID }) {
                var entry: [String: Any]?
                if let data = FileManager.default.contents(atPath: parked(vmID)) {
                    entry = try JSONSerialization.jsonObject(with: data) as? [String: Any]
                } else {
                    // A failover: the VM is still in the fenced node's inventory.
                    for node in DemoCluster.nodes where node != target {
                        if let found = try take(vmID, from: node) {
                            entry = found
                            break
                        }
                    }
                }
                guard var entry else { throw DemoError("\(name) is in no inventory of the demo") }
                entry["state"] = "Running"
                inventory.append(entry)
                try save(inventory, of: target)
            }
            try? FileManager.default.removeItem(atPath: parked(vmID))
            try log("\(target): \(name) registered and started (epoch \(epoch))")
        case "fence":
            try log("\(environment["CHAINKEEPER_NODE"] ?? "?"): fenced, every highly available VM on it stopped")
        default:
            throw DemoError("unknown operation '\(operation)'")
        }
    }

    private func inventoryPath(_ node: String) -> String { root + "/inventory-\(node).json" }
    private func parked(_ vmID: String) -> String {
        root + "/released-\(vmID.filter { $0.isHexDigit || $0 == "-" }).json"
    }

    private func read(_ node: String) throws -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: inventoryPath(node)),
            let document = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [] }
        return document["vms"] as? [[String: Any]] ?? []
    }

    private func save(_ vms: [[String: Any]], of node: String) throws {
        let data = try JSONSerialization.data(
            withJSONObject: ["version": 1, "vms": vms],
            options: [.prettyPrinted, .sortedKeys]
        )
        try data.write(to: URL(fileURLWithPath: inventoryPath(node)), options: .atomic)
    }

    /// Removes the VM from `node`'s inventory and returns its entry, if it was there.
    private func take(_ vmID: String, from node: String) throws -> [String: Any]? {
        var vms = try read(node)
        guard let index = vms.firstIndex(where: { $0["id"] as? String == vmID }) else { return nil }
        let entry = vms.remove(at: index)
        try save(vms, of: node)
        return entry
    }

    private func log(_ line: String) throws {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        let text = "\(formatter.string(from: Date())) \(line)\n"
        let handle =
            FileHandle(forWritingAtPath: root + "/hypervisor.log")
            ?? {
                _ = FileManager.default.createFile(atPath: root + "/hypervisor.log", contents: nil)
                return FileHandle(forWritingAtPath: root + "/hypervisor.log")
            }()
        guard let handle else { throw DemoError("cannot write hypervisor.log") }
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
    }
}
