import AgentService
import ChainModel
import DiskFormats
import Foundation
import Testing

@Suite struct AgentDatabaseTests {
    @Test func everyCommitIsSyncedAlsoAfterReopen() throws {
        let scratch = try Scratch()
        let path = scratch.path + "/agent.sqlite"
        #expect(try AgentDatabase(path: path).synchronousMode() == 2)
        #expect(try AgentDatabase(path: path).synchronousMode() == 2)
    }

    @Test func aNewerReportSupersedesTheWaitingOneAndSurvivesReopen() throws {
        let scratch = try Scratch()
        let path = scratch.path + "/agent.sqlite"
        do {
            let database = try AgentDatabase(path: path)
            try database.enqueueReport(Data("first".utf8), at: Timestamp(millisecondsSinceEpoch: 1))
            try database.enqueueReport(Data("second".utf8), at: Timestamp(millisecondsSinceEpoch: 2))
            #expect(try database.outboxCount() == 1)
            let message = try #require(try database.nextMessage())
            try database.markFailed(message.sequence, reason: "coordinator down")
        }
        let reopened = try AgentDatabase(path: path)
        let message = try #require(try reopened.nextMessage())
        #expect(String(decoding: message.body, as: UTF8.self) == "second")
        #expect(message.attempts == 1)
        try reopened.markDelivered(message.sequence)
        #expect(try reopened.nextMessage() == nil)
    }

    @Test func headersRoundTripAndUnseenOnesAreForgotten() throws {
        let scratch = try Scratch()
        let database = try AgentDatabase(path: scratch.path + "/agent.sqlite")
        let info = DiskImageInfo(
            format: .vhdx,
            diskType: .differencing,
            virtualSize: 1 << 30,
            identifier: GUID(mixedEndianText: "02e032ac-16f4-4a97-80e6-c965344050d8"),
            parent: ParentReference(
                identifier: GUID(mixedEndianText: "83ed0ec3-24c8-49a6-a959-5e4bf1288bfb"),
                relativePath: "base.vhdx"
            ),
            logState: .orphanedLogGuid,
            warnings: ["second header damaged"]
        )
        let header = CachedHeader(
            path: "/v/a.avhdx",
            identity: FileIdentity(device: 66, inode: UInt64.max),
            size: 4 << 20,
            modifiedNanoseconds: 1_700_000_000_123_456_789,
            info: info
        )
        let other = CachedHeader(
            path: "/v/b.avhdx",
            identity: FileIdentity(device: 66, inode: 2),
            size: 1,
            modifiedNanoseconds: 1,
            info: info
        )
        try database.saveHeaders([header, other], keeping: [header.path, other.path])
        #expect(try database.loadHeaders() == [header.path: header, other.path: other])
        try database.saveHeaders([], keeping: [header.path])
        #expect(try database.loadHeaders() == [header.path: header])
    }
}
