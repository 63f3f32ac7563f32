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

    /// SPEC §6: a written storage heartbeat makes a lost lease "isolated", not "fenced".
    @Test func aStorageHeartbeatKeepsALeaselessAgentIsolatedAndItsWatchdogFed() {
        var lease = AgentLease(leaseTTL: .seconds(10))
        lease.renewed(sentAt: at(1))
        #expect(lease.condition(at: at(5)) == .running)
        for second in stride(from: 2.0, through: 40.0, by: 2.0) { lease.storageWritten(issuedAt: at(second)) }
        // The lease ran out at 11 s (fencing would have started at 9 s); the storage heartbeat is current.
        #expect(lease.condition(at: at(9)) == .isolated)
        #expect(lease.isolatedSince(at: at(30)) == at(9))
        #expect(!lease.mustFence(at: at(30)))
        #expect(lease.mayFeedWatchdog(at: at(40)))
        // `stop` VMs: only once isolated for the timeout, and only while peers run.
        #expect(!lease.stopsIsolatedVMs(at: at(38.9), isolationTimeout: .seconds(30), peersRunning: true))
        #expect(lease.stopsIsolatedVMs(at: at(39), isolationTimeout: .seconds(30), peersRunning: true))
        #expect(!lease.stopsIsolatedVMs(at: at(39), isolationTimeout: .seconds(30), peersRunning: false))
        // The storage heartbeat stops too (last write issued at 40 s): fenced at 48 s, watchdog starved from 45 s.
        #expect(lease.mayFeedWatchdog(at: at(44.9)))
        #expect(!lease.mayFeedWatchdog(at: at(45)))
        #expect(!lease.mustFence(at: at(47.9)))
        #expect(lease.mustFence(at: at(48)))
        #expect(lease.condition(at: at(48)) == .fenced)
        // Renewed again: running.
        lease.renewed(sentAt: at(47))
        #expect(lease.condition(at: at(48)) == .running)
    }

    @Test func withoutSharedVolumesTheLeaseRuleAppliesAlone() {
        var lease = AgentLease(leaseTTL: .seconds(10))
        lease.renewed(sentAt: at(1))
        lease.storageWritten(issuedAt: at(8))
        lease.storageNotShared()
        #expect(lease.mustFence(at: at(9)))
        #expect(lease.condition(at: at(9)) == .fenced)
    }
}
