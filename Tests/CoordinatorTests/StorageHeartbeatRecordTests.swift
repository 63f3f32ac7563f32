import ChainModel
import ClusterAPI
import Testing

/// SPEC §6: a storage heartbeat's slot and VM list are read whole or not at all; a torn, truncated or foreign file is
/// never misread, and a list of another version than the slot names is never used.
@Suite struct StorageHeartbeatRecordTests {
    let node = NodeName("node/../1")
    let vms: [StorageHeartbeat.Entry] = [
        .init(vm: VMID("web1"), epoch: Epoch(3), running: true),
        .init(vm: VMID("db1"), epoch: Epoch(7), running: false),
    ]
    var slot: StorageHeartbeatRecord.Slot {
        StorageHeartbeatRecord.Slot(node: node, counter: 42, condition: .isolated, listVersion: 9)
    }

    @Test func aSlotAndItsListRoundTripAndMakeOneRecord() throws {
        let name = StorageHeartbeatRecord.fileName(of: node)
        let listName = StorageHeartbeatRecord.listFileName(of: node)
        #expect(name == "node-node%2F..%2F1.hb", "a node name can never name another path")
        #expect(listName == "node-node%2F..%2F1.vms")
        #expect(StorageHeartbeatRecord.decodeSlot(StorageHeartbeatRecord.encode(slot), fileName: name) == slot)
        let list = try #require(
            StorageHeartbeatRecord.decodeList(
                StorageHeartbeatRecord.encodeList(node: node, version: 9, vms: vms),
                fileName: listName
            )
        )
        #expect(list.node == node && list.version == 9 && list.vms == vms)
        let record = StorageHeartbeatRecord.record(slot, list: (list.version, list.vms))
        #expect(record == StorageHeartbeat(node: node, counter: 42, condition: .isolated, vms: vms))
        #expect(record.lists(VMID("db1"), stoppedAt: Epoch(7)))
        #expect(!record.lists(VMID("web1"), stoppedAt: Epoch(3)))
        #expect(!record.lists(VMID("gone"), stoppedAt: Epoch(1)))
        // A list of another version (the writer between its two writes) lists nothing: never read as stopped.
        #expect(StorageHeartbeatRecord.record(slot, list: (8, vms)).vms.isEmpty)
        #expect(StorageHeartbeatRecord.record(slot, list: nil).vms.isEmpty)
    }

    @Test(arguments: [1, 10, 40, 60, 90])
    func everyTruncationIsRefused(percent: Int) {
        let bytes = StorageHeartbeatRecord.encode(slot)
        #expect(StorageHeartbeatRecord.decodeSlot(Array(bytes.prefix(bytes.count * percent / 100))) == nil)
        let list = StorageHeartbeatRecord.encodeList(node: node, version: 9, vms: vms)
        #expect(StorageHeartbeatRecord.decodeList(Array(list.prefix(list.count * percent / 100))) == nil)
    }

    @Test func aFlippedByteAnotherNodesFilesAndForeignFilesAreRefused() {
        var bytes = StorageHeartbeatRecord.encode(slot)
        bytes[bytes.count - 5] ^= 0x01
        #expect(StorageHeartbeatRecord.decodeSlot(bytes) == nil, "the checksum catches a torn or corrupted body")
        let whole = StorageHeartbeatRecord.encode(slot)
        #expect(StorageHeartbeatRecord.decodeSlot(whole, fileName: "node-other.hb") == nil, "a slot in another's name")
        let list = StorageHeartbeatRecord.encodeList(node: node, version: 9, vms: vms)
        #expect(StorageHeartbeatRecord.decodeList(list, fileName: "node-other.vms") == nil)
        #expect(StorageHeartbeatRecord.decodeSlot(list) == nil, "a list is not a slot")
        #expect(StorageHeartbeatRecord.decodeList(whole) == nil, "a slot is not a list")
        #expect(StorageHeartbeatRecord.decodeSlot([]) == nil)
        #expect(StorageHeartbeatRecord.decodeSlot(Array("hello\n{}".utf8)) == nil)
        #expect(StorageHeartbeatRecord.decodeList(Array(repeating: 0x41, count: 3 * 1024 * 1024)) == nil)
    }
}
