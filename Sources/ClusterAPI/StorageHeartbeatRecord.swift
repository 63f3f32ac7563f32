import ChainModel
import DiskFormats
import FoundationEssentials

/// A storage heartbeat as it lies on a shared volume (SPEC §6): two files per node, each one header line naming its
/// format, the body's length and its CRC-32C, then the body (JSON).
///
/// - the slot (`node-NAME.hb`), rewritten every period: the counter, the condition, and the version of the VM list;
/// - the VM list (`node-NAME.vms`), rewritten only when the list changes, with its version: a reader reads it again
///   only when the slot names a version it does not hold.
///
/// A reader that finds anything else (a torn write, a truncated file, another program's file, a file in another node's
/// name) gets `nil`, never a misread record: the length and the checksum must both match.
public enum StorageHeartbeatRecord {
    /// The files' directory under a volume's root.
    public static let directory = ".chainkeeper/heartbeat"
    /// The largest file a reader reads (a list of 20,000 VMs fits).
    public static let maxBytes = 2 * 1024 * 1024
    static let slotMagic = "chainkeeper-storage-heartbeat 2"
    static let listMagic = "chainkeeper-storage-vms 1"

    /// The slot's file name for `node`: percent-encoded, with a prefix (so `.` and `..` stay file names).
    public static func fileName(of node: NodeName) -> String { "node-" + PathSegment.encode(node.rawValue) + ".hb" }

    /// The VM list's file name for `node`.
    public static func listFileName(of node: NodeName) -> String {
        "node-" + PathSegment.encode(node.rawValue) + ".vms"
    }

    /// What the slot holds.
    public struct Slot: Hashable, Sendable {
        public var node: NodeName
        public var counter: UInt64
        public var condition: StorageHeartbeat.Condition
        /// The version of the VM list that goes with it (the writer bumps it whenever the list changes).
        public var listVersion: UInt64

        public init(node: NodeName, counter: UInt64, condition: StorageHeartbeat.Condition, listVersion: UInt64) {
            self.node = node
            self.counter = counter
            self.condition = condition
            self.listVersion = listVersion
        }
    }

    struct SlotBody: Codable {
        var node: String
        var counter: UInt64
        var condition: String
        var listVersion: UInt64
    }

    struct ListBody: Codable {
        struct Entry: Codable {
            var vm: String
            var epoch: Int64
            var running: Bool
        }

        var node: String
        var version: UInt64
        var vms: [Entry]
    }

    public static func encode(_ slot: Slot) -> [UInt8] {
        frame(
            slotMagic,
            SlotBody(
                node: slot.node.rawValue,
                counter: slot.counter,
                condition: slot.condition.rawValue,
                listVersion: slot.listVersion
            )
        )
    }

    /// The slot in `bytes`, or `nil` when they are not one whole slot (or, given `fileName`, not the slot of the node
    /// that file belongs to).
    public static func decodeSlot(_ bytes: [UInt8], fileName: String? = nil) -> Slot? {
        guard let body = unframe(slotMagic, bytes, as: SlotBody.self),
            let condition = StorageHeartbeat.Condition(rawValue: body.condition),
            fileName.map({ $0 == Self.fileName(of: NodeName(body.node)) }) ?? true
        else { return nil }
        return Slot(
            node: NodeName(body.node),
            counter: body.counter,
            condition: condition,
            listVersion: body.listVersion
        )
    }

    public static func encodeList(node: NodeName, version: UInt64, vms: [StorageHeartbeat.Entry]) -> [UInt8] {
        frame(
            listMagic,
            ListBody(
                node: node.rawValue,
                version: version,
                vms: vms.map { .init(vm: $0.vm.rawValue, epoch: $0.epoch.rawValue, running: $0.running) }
            )
        )
    }

    /// The VM list in `bytes` with its version, or `nil` when they are not one whole list (or, given `fileName`, not
    /// the list of the node that file belongs to).
    public static func decodeList(
        _ bytes: [UInt8],
        fileName: String? = nil
    ) -> (node: NodeName, version: UInt64, vms: [StorageHeartbeat.Entry])? {
        guard let body = unframe(listMagic, bytes, as: ListBody.self),
            fileName.map({ $0 == Self.listFileName(of: NodeName(body.node)) }) ?? true
        else { return nil }
        return (
            NodeName(body.node), body.version,
            body.vms.map { .init(vm: VMID($0.vm), epoch: Epoch($0.epoch), running: $0.running) }
        )
    }

    /// The record a slot and a list make together: the list only when its version is the slot's (otherwise the writer
    /// is between the two writes, and the record lists no VM: a VM missing from a record is never read as stopped).
    public static func record(
        _ slot: Slot,
        list: (version: UInt64, vms: [StorageHeartbeat.Entry])?
    ) -> StorageHeartbeat {
        let vms = list.flatMap { $0.version == slot.listVersion ? $0.vms : nil } ?? []
        return StorageHeartbeat(node: slot.node, counter: slot.counter, condition: slot.condition, vms: vms)
    }

    // MARK: - Framing

    static func frame(_ magic: String, _ body: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = Array((try? encoder.encode(body)) ?? Data())
        let header = "\(magic) \(json.count) \(String(CRC32C.checksum(json), radix: 16))\n"
        return Array(header.utf8) + json
    }

    static func unframe<Body: Decodable>(_ magic: String, _ bytes: [UInt8], as type: Body.Type) -> Body? {
        guard bytes.count <= maxBytes, let newline = bytes.firstIndex(of: 0x0A) else { return nil }
        let fields = String(decoding: bytes[..<newline], as: UTF8.self).split(separator: " ")
        guard fields.count == 4, fields[0...1].joined(separator: " ") == magic,
            let length = Int(fields[2]), let checksum = UInt32(fields[3], radix: 16)
        else { return nil }
        let json = Array(bytes[(newline + 1)...])
        guard json.count == length, CRC32C.checksum(json) == checksum else { return nil }
        return try? JSONDecoder().decode(Body.self, from: Data(json))
    }
}
