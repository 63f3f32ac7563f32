import ChainModel
import DiskFormats
import FoundationEssentials

/// A storage heartbeat record as it lies in its slot on a shared volume (SPEC §6): one header line naming the format,
/// the body's length and its CRC-32C, then the body (JSON).
///
/// A reader that finds anything else (a torn write, a truncated file, another program's file) gets `nil`, never a
/// misread record: the length and the checksum must both match.
public enum StorageHeartbeatRecord {
    /// The slot's directory under a volume's root.
    public static let directory = ".chainkeeper/heartbeat"
    /// The largest slot a reader reads (a record of 20,000 VMs fits).
    public static let maxBytes = 2 * 1024 * 1024
    static let magic = "chainkeeper-storage-heartbeat 1"

    /// The slot's file name for `node`: percent-encoded, with a prefix (so `.` and `..` stay file names).
    public static func fileName(of node: NodeName) -> String { "node-" + PathSegment.encode(node.rawValue) + ".hb" }

    struct Body: Codable {
        struct Entry: Codable {
            var vm: String
            var epoch: Int64
            var running: Bool
        }

        var node: String
        var counter: UInt64
        var condition: String
        var vms: [Entry]
    }

    public static func encode(_ record: StorageHeartbeat) -> [UInt8] {
        let body = Body(
            node: record.node.rawValue,
            counter: record.counter,
            condition: record.condition.rawValue,
            vms: record.vms.map { .init(vm: $0.vm.rawValue, epoch: $0.epoch.rawValue, running: $0.running) }
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = Array((try? encoder.encode(body)) ?? Data())
        let header = "\(magic) \(json.count) \(String(CRC32C.checksum(json), radix: 16))\n"
        return Array(header.utf8) + json
    }

    /// The record in `bytes`, or `nil` when they are not one whole record (or, given `fileName`, not the record of the
    /// node that slot belongs to).
    public static func decode(_ bytes: [UInt8], fileName: String? = nil) -> StorageHeartbeat? {
        guard bytes.count <= maxBytes, let newline = bytes.firstIndex(of: 0x0A) else { return nil }
        let fields = String(decoding: bytes[..<newline], as: UTF8.self).split(separator: " ")
        guard fields.count == 4, fields[0...1].joined(separator: " ") == magic,
            let length = Int(fields[2]), let checksum = UInt32(fields[3], radix: 16)
        else { return nil }
        let json = Array(bytes[(newline + 1)...])
        guard json.count == length, CRC32C.checksum(json) == checksum,
            let body = try? JSONDecoder().decode(Body.self, from: Data(json)),
            let condition = StorageHeartbeat.Condition(rawValue: body.condition),
            fileName.map({ $0 == Self.fileName(of: NodeName(body.node)) }) ?? true
        else { return nil }
        return StorageHeartbeat(
            node: NodeName(body.node),
            counter: body.counter,
            condition: condition,
            vms: body.vms.map { .init(vm: VMID($0.vm), epoch: Epoch($0.epoch), running: $0.running) }
        )
    }
}
