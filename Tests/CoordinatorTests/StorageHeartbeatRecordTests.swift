import ChainModel
import ClusterAPI
import Testing

/// SPEC §6: a storage heartbeat record is read whole or not at all; a torn, truncated or foreign file is never misread.
@Suite struct StorageHeartbeatRecordTests {
    let record = StorageHeartbeat(
        node: NodeName("node/../1"),
        counter: 42,
        condition: .isolated,
        vms: [
            .init(vm: VMID("web1"), epoch: Epoch(3), running: true),
            .init(vm: VMID("db1"), epoch: Epoch(7), running: false),
        ]
    )

    @Test func aRecordRoundTripsAndItsSlotIsOneFileName() {
        let bytes = StorageHeartbeatRecord.encode(record)
        let name = StorageHeartbeatRecord.fileName(of: record.node)
        #expect(name == "node-node%2F..%2F1.hb", "a node name can never name another path")
        #expect(StorageHeartbeatRecord.decode(bytes, fileName: name) == record)
        #expect(StorageHeartbeatRecord.decode(bytes)?.lists(VMID("db1"), stoppedAt: Epoch(7)) == true)
        #expect(StorageHeartbeatRecord.decode(bytes)?.lists(VMID("web1"), stoppedAt: Epoch(3)) == false)
        #expect(StorageHeartbeatRecord.decode(bytes)?.lists(VMID("gone"), stoppedAt: Epoch(1)) == false)
    }

    @Test(arguments: [1, 10, 40, 60, 90])
    func everyTruncationIsRefused(percent: Int) {
        let bytes = StorageHeartbeatRecord.encode(record)
        #expect(StorageHeartbeatRecord.decode(Array(bytes.prefix(bytes.count * percent / 100))) == nil)
    }

    @Test func aFlippedByteAnotherNodesSlotAndForeignFilesAreRefused() {
        var bytes = StorageHeartbeatRecord.encode(record)
        bytes[bytes.count - 5] ^= 0x01
        #expect(StorageHeartbeatRecord.decode(bytes) == nil, "the checksum catches a torn or corrupted body")
        let whole = StorageHeartbeatRecord.encode(record)
        #expect(StorageHeartbeatRecord.decode(whole, fileName: "node-other.hb") == nil, "a record in another's slot")
        #expect(StorageHeartbeatRecord.decode([]) == nil)
        #expect(StorageHeartbeatRecord.decode(Array("hello\n{}".utf8)) == nil)
        #expect(StorageHeartbeatRecord.decode(Array(repeating: 0x41, count: 3 * 1024 * 1024)) == nil)
    }
}
