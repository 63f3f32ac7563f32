import ChainModel
import DecisionEngine
import Testing

@Suite struct AgentLeaseTests {
    func at(_ seconds: Double) -> MonotonicTime { MonotonicTime(milliseconds: Int64(seconds * 1000)) }

    @Test func anAgentActsOnNothingUntilAdmitted() {
        let lease = AgentLease(leaseTTL: .seconds(10))
        #expect(lease.standing == .awaitingAdmission)
        #expect(!lease.mayFeedWatchdog(at: at(0)))
        #expect(!lease.mustFence(at: at(100)))
        #expect(lease.expiresAt == nil)
    }

    @Test func theLeaseCountsFromTheSendTimeAndFencesBeforeItRunsOut() {
        var lease = AgentLease(leaseTTL: .seconds(10))
        lease.renewed(sentAt: at(1))
        #expect(lease.expiresAt == at(11))
        // The watchdog is fed only while more than its timeout (5 s) is left.
        #expect(lease.mayFeedWatchdog(at: at(5.9)))
        #expect(!lease.mayFeedWatchdog(at: at(6)))
        // Fencing starts when 2 s (a fifth) are left.
        #expect(!lease.mustFence(at: at(8.9)))
        #expect(lease.mustFence(at: at(9)))
        // Heartbeats come faster once less than half is left.
        #expect(lease.nextHeartbeat(after: .seconds(2), at: at(5)) == .seconds(2))
        #expect(lease.nextHeartbeat(after: .seconds(2), at: at(6.5)) == .milliseconds(500))
    }

    @Test func anAnswerToAHeartbeatSentBeforeFencingCannotReadmit() {
        var lease = AgentLease(leaseTTL: .seconds(10))
        lease.renewed(sentAt: at(0))
        lease.fenced(at: at(8))
        lease.renewed(sentAt: at(7.5))
        #expect(lease.standing == .fenced)
        lease.renewed(sentAt: at(9))
        #expect(lease.standing == .admitted)
        #expect(lease.expiresAt == at(19))
    }

    @Test func anOlderAnswerNeverShortensTheLease() {
        var lease = AgentLease(leaseTTL: .seconds(10))
        lease.renewed(sentAt: at(4))
        lease.renewed(sentAt: at(2))
        #expect(lease.expiresAt == at(14))
    }
}
