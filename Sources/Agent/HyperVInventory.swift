import ClusterAPI
import Foundation

/// One VM of a `hyperv-json` inventory (SPEC §4), paths as the agent sees them: the same shape as the definition the
/// coordinator sends an adopting node.
public typealias InventoryVM = VMDefinition

/// Reads a `hyperv-json` export.
///
/// A malformed VM entry becomes an inventory error for that VM; the rest still arrives. Unknown fields are ignored.
public enum HyperVInventory {
    public struct FileError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func parse(_ data: Data) throws(FileError) -> (vms: [InventoryVM], errors: [ReportedInventoryError]) {
        let root: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw FileError(description: "the inventory is not a JSON object")
            }
            root = object
        } catch let error as FileError {
            throw error
        } catch {
            throw FileError(description: "the inventory is not valid JSON (truncated or damaged?)")
        }
        guard let version = root["version"] as? Int, version == 1 || version == 2 else {
            throw FileError(
                description: "inventory version \(root["version"].map { "\($0)" } ?? "missing") is not 1 or 2"
            )
        }
        guard let entries = root["vms"] as? [Any] else {
            throw FileError(description: "the inventory has no vms array")
        }
        var vms: [InventoryVM] = []
        var errors: [ReportedInventoryError] = []
        for (index, entry) in entries.enumerated() {
            let name = (entry as? [String: Any])?["name"] as? String
            do {
                vms.append(try vm(entry))
            } catch let error as FileError {
                errors.append(ReportedInventoryError(vm: name ?? "entry \(index)", message: error.description))
            } catch {
                errors.append(ReportedInventoryError(vm: name ?? "entry \(index)", message: "\(error)"))
            }
        }
        return (vms, errors)
    }

    private static func vm(_ entry: Any) throws -> InventoryVM {
        guard let object = entry as? [String: Any] else { throw FileError(description: "the entry is not an object") }
        func string(_ key: String, in object: [String: Any] = object, required: Bool = false) throws -> String? {
            switch object[key] {
            case let value as String where !value.isEmpty: return value
            case nil, is NSNull: if required { throw FileError(description: "\(key) is missing") } else { return nil }
            default: throw FileError(description: "\(key) is not a non-empty string")
            }
        }
        func paths(_ key: String, in object: [String: Any]) throws -> [String] {
            guard let value = object[key], !(value is NSNull) else { return [] }
            guard let list = value as? [String] else { throw FileError(description: "\(key) is not an array of paths") }
            return list
        }
        guard let id = try string("id", required: true), let name = try string("name", required: true),
            let state = try string("state", required: true)
        else { throw FileError(description: "id, name and state are required") }
        let snapshots = try (object["snapshots"] as? [Any] ?? []).map { raw -> InventoryVM.Snapshot in
            guard let snapshot = raw as? [String: Any] else {
                throw FileError(description: "a snapshot is not an object")
            }
            guard let snapshotID = try string("id", in: snapshot, required: true) else {
                throw FileError(description: "a snapshot has no id")
            }
            let created = try string("created", in: snapshot).map { text -> Int64 in
                guard let date = ISO8601DateFormatter().date(from: text) else {
                    throw FileError(description: "snapshot \(snapshotID): created '\(text)' is not an ISO 8601 time")
                }
                return Int64(date.timeIntervalSince1970 * 1000)
            }
            var parsed = InventoryVM.Snapshot(
                id: snapshotID,
                name: try string("name", in: snapshot) ?? snapshotID,
                parentId: try string("parentId", in: snapshot),
                created: created,
                configurationPath: try string("configurationPath", in: snapshot),
                memoryPath: try string("memoryPath", in: snapshot),
                savedStatePath: try string("savedStatePath", in: snapshot),
                disks: try paths("disks", in: snapshot)
            )
            parsed.type = try string("type", in: snapshot)
            return parsed
        }
        let memory = object["memoryMiB"] as? Int ?? 0
        guard memory >= 0 else { throw FileError(description: "memoryMiB is negative") }
        var vm = InventoryVM(
            id: id,
            name: name,
            state: state,
            highlyAvailable: object["highlyAvailable"] as? Bool ?? true,
            memoryMiB: memory,
            configurationPath: try string("configurationPath"),
            runtimeStatePath: try string("runtimeStatePath"),
            guestStatePath: try string("guestStatePath"),
            disks: try paths("disks", in: object),
            snapshots: snapshots
        )
        // Version 2 (SPEC §4): where the next files go, the current checkpoint, mounted ISOs, a pending merge.
        vm.checkpointFileLocation = try string("checkpointFileLocation")
        vm.smartPagingFilePath = try string("smartPagingFilePath")
        vm.currentSnapshotId = try string("currentSnapshotId")
        let drives = try paths("dvdDrives", in: object)
        vm.dvdDrives = drives.isEmpty ? nil : drives
        switch object["mergePending"] {
        case nil, is NSNull: break
        case let pending as Bool: vm.mergePending = pending
        default: throw FileError(description: "mergePending is not a boolean")
        }
        return vm
    }
}
