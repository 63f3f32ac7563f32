import ChainModel
import ClusterSimulator
import DecisionEngine
import Testing

/// The scenario suite is only worth something if its invariant checks can fail: these break the engine or a node on
/// purpose and expect the breach to be caught.
@Suite struct InvariantCheckerTests {
    static let cluster = """
        node node1 memory 16384
        node node2 memory 16384
        volume csv1 node1 node2
        vm web1 node1 files csv1
        """

    /// The lease rule alone (agents that write no storage heartbeat), broken by declaring nodes down early.
    @Test func aNodeDeclaredDownBeforeItsLeaseRanOutIsCaught() throws {
        let scenario = try Scenario(
            cluster: "storage-heartbeats off\n" + Self.cluster + "\ndeclare-down-early 6s\n",
            commands: "at 20s partition node1\nrun 35s\n"
        )
        let simulation = Simulation.run(scenario)
        #expect(
            simulation.violations.contains { $0.contains("declared down") && $0.contains("before its lease runs out") }
        )
    }

    @Test func aFenceHookThatStopsNothingIsCaughtAsDualOwnership() throws {
        let scenario = try Scenario(
            cluster: Self.cluster,
            commands: "at 1s break-fence-hook node1\nat 20s partition node1\nat 20s cut-storage node1\nrun 35s\n"
        )
        let simulation = Simulation.run(scenario)
        #expect(simulation.violations.contains { $0.contains("declared down while it still runs") })
        #expect(simulation.violations.contains { $0 == "web1 runs on node1 and node2" })
    }

    /// The isolation rule broken on purpose: agents that ignore their storage heartbeat fence themselves when only the
    /// coordinator is gone, which the new invariant catches.
    @Test func fencingANodeThatCanStillWriteItsStorageHeartbeatIsCaught() throws {
        let scenario = try Scenario(
            cluster: "storage-heartbeats off\n" + Self.cluster,
            commands: "at 20s stop-coordinator\nrun 40s\n"
        )
        let simulation = Simulation.run(scenario)
        #expect(
            simulation.violations.contains(
                "fencing node1 stops [web1] although it can still write its storage heartbeat"
            )
        )
        let isolated = try Scenario(cluster: Self.cluster, commands: "at 20s stop-coordinator\nrun 40s\n")
        #expect(Simulation.run(isolated).violations.isEmpty)
    }

    @Test func whatIfEqualsWhatTheFailoverThenDoes() throws {
        let scenario = try Scenario(
            cluster: """
                node node1 memory 16384
                node node2 memory 8192
                node node3 memory 8192
                volume csv1 node1 node2 node3
                volume san13 node1 node3
                class sql enforced
                vm sql1 node1 files csv1 class sql memory 2048 priority high
                vm sql2 node2 files csv1 class sql memory 2048
                vm app1 node1 files san13 memory 4096
                vm app2 node1 files csv1 memory 4096 preferred node2
                vm mem1 node1 files csv1 memory 6144
                vm local1 node1 files csv1,local:node1 memory 1024
                vm low1 node1 files csv1 memory 512 priority low max-failovers 1
                failed-over low1 1h
                """,
            commands: "at 15s whatif node1\nat 20s kill node1\nrun 35s\n"
        )
        let simulation = Simulation.run(scenario)
        #expect(simulation.violations.isEmpty)
        let plan = try #require(simulation.whatIfs.first)
        #expect(plan.moves.count == 3)
        #expect(plan.blocked.map(\.vmName) == ["local1", "mem1", "low1"])
        #expect(
            Set(plan.moves.map { "\($0.vmName)>\($0.target)" })
                == Set(simulation.failovers.map { "\($0.vm)>\($0.to)" })
        )
        #expect(plan.blocked.map(\.vmName) == simulation.blockedOrder)
    }
}
