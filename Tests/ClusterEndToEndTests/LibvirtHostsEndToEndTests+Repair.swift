import ClusterAPI
import ClusterTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 25 against the real thing: a running domain whose middle overlay and memory file sit on a's local directory is
/// repaired onto the shared volume while it runs (copy, verify, re-link, block copy and pivot, redefine), then moves to
/// b; and a crash of the coordinator or of the agent at each step leaves a complete chain the domain runs on.
///
/// In `LibvirtHostsEndToEndTests`, whose tests run one at a time: test beds share loopback addresses and VNC ports.
extension LibvirtHostsEndToEndTests {
    /// A running domain on a with three external snapshots: base and s1 on the shared volume, s2's overlay and memory
    /// file on a's local directory, s3 (the running disk) on the shared volume again.
    static func strandedDomain(_ bed: Testbed, _ name: String) throws {
        _ = try bed.domain(name, on: "a", in: bed.shared, snapshots: 3, memoryDirectory: bed.local("a")) {
            $0 == 2 ? bed.local("a") : nil
        }
    }

    /// `qemu-img info --backing-chain` of `file`: each link's file name, leaf first; nil when it does not resolve.
    static func backingChain(_ file: String) throws -> [String]? {
        let result = try Daemons.runBlocking(
            "/usr/bin/qemu-img",
            ["info", "-U", "--output=json", "--backing-chain", file],
            environment: [:]
        )
        guard result.status == 0 else { return nil }
        let chain = try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [[String: Any]]
        return chain?.compactMap { $0["filename"] as? String }
    }

    /// The file the running domain writes to (`domblklist`'s vda).
    static func runningDisk(_ host: LibvirtHost, _ domain: String) throws -> String? {
        try host.must(["domblklist", domain]).split(separator: "\n").first { $0.contains("vda") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).last.map(String.init) }
    }

    @Test func aRunningDomainsStrandedMiddleOverlayAndMemoryFileAreRepairedOntoTheSharedVolumeWhileItRuns()
        async throws
    {
        var bed = try Testbed()
        defer {
            bed.stop()
            if ProcessInfo.processInfo.environment["CHAINKEEPER_KEEP_TESTBED"] == nil { bed.remove() }
        }
        let a = try #require(bed.hosts["a"])
        try Self.strandedDomain(bed, "rep01")
        try Self.strandedDomain(bed, "rep02")
        // rep03: the same, shut off (nothing runs it: every file is copied, the definitions are redefined).
        try Self.strandedDomain(bed, "rep03")
        try a.must(["destroy", "rep03"])
        try await bed.start()
        _ = try #require(try await bed.waitForVM("rep01") { $0.hypervisorMetadata?.held == true && $0.owner == "a" })
        try Self.mark(a, "rep01", 0x61)
        _ = try #require(try await bed.waitForVM("rep02") { $0.hypervisorMetadata?.held == true && $0.owner == "a" })
        try Self.mark(a, "rep02", 0x62)
        let (shared, local) = (bed.shared, bed.local("a"))
        let treeBefore = try a.snapshotTree("rep01")

        // The audit names the stranded files and the volume a repair would use.
        let audit = try await bed.json(["audit"], as: AuditResponse.self)
        let risks = audit.risks.filter { $0.vm == "rep01" }
        #expect(risks.contains { $0.code == "file-on-local-volume" && $0.repairTo == "shared" }, "\(risks)")

        // whatif: held if a failed, and a repair now would fix it.
        let whatif = try await bed.json(["whatif", "fail", "a"], as: WhatIfResponse.self)
        #expect(whatif.blocked.first { $0.vm == "rep01" }?.repairTo == "shared", "\(whatif.blocked)")

        // The plan: the stranded overlay and memory file, and the running disk above them.
        let dry = try await bed.cli(["repair", "rep01", "--dry-run", "--json"])
        #expect(dry.status == 0, "\(dry.out) \(dry.err)")
        let plan = try JSONDecoder().decode(RepairResponse.self, from: Data(dry.out.utf8))
        #expect(plan.volume == "shared" && plan.dryRun)
        let planned = Dictionary(uniqueKeysWithValues: plan.files.map { ($0.from, $0) })
        #expect(planned[local + "/rep01-s2.qcow2"]?.to == shared + "/rep01/rep01-s2.qcow2")
        #expect(planned[local + "/rep01-s2.mem"]?.to == shared + "/rep01/rep01-s2.mem")
        #expect(planned[shared + "/rep01-s3.qcow2"]?.why == "above-stranded")
        #expect(plan.files.count == 3, "\(plan.files.map(\.from))")

        // A volume b cannot reach is refused; nothing is touched.
        let wrong = try await bed.cli(["repair", "rep01", "--to-volume", "a-local", "--json"])
        #expect(wrong.status == 3, "\(wrong.out) \(wrong.err)")
        let refusal = try JSONDecoder().decode(RepairResponse.self, from: Data(wrong.out.utf8))
        #expect(refusal.reasons.map(\.code) == ["file-on-local-volume"], "\(refusal.reasons)")
        #expect(refusal.operationId == nil)

        // The repair, while the domain runs.
        let repaired = try await bed.cli(["repair", "rep01", "--json"])
        #expect(repaired.status == 0, "\(repaired.out) \(repaired.err)")
        let done = try JSONDecoder().decode(RepairResponse.self, from: Data(repaired.out.utf8))
        #expect(done.state == "committed" && done.failoverCleared == true, "\(done)")
        #expect(try a.must(["domstate", "rep01"]).contains("running"), "the domain kept running")
        let top = shared + "/rep01/rep01-s3.qcow2"
        #expect(try Self.runningDisk(a, "rep01") == top)
        // The chain resolves on the shared volume alone, and qemu-img and inspect agree on it.
        let expected = [
            top, shared + "/rep01/rep01-s2.qcow2", shared + "/rep01-s1.qcow2", shared + "/rep01-base.qcow2",
        ]
        #expect(try Self.backingChain(top) == expected)
        let inspected = try Daemons.runBlocking(
            Daemons.chainkeeper,
            ["inspect", "--chain", "--json", top],
            environment: [:]
        )
        let report = try JSONSerialization.jsonObject(with: Data(inspected.out.utf8)) as? [[String: Any]]
        let chain = report?.first?["chain"] as? [[String: Any]]
        #expect(chain?.compactMap { $0["path"] as? String } == expected, "\(inspected.out)")
        // The snapshot tree is unchanged, and names the new files.
        let treeAfter = try a.snapshotTree("rep01")
        #expect(treeAfter.parents == treeBefore.parents && treeAfter.current == treeBefore.current)
        let s2 = try a.must(["snapshot-dumpxml", "rep01", "s2"])
        #expect(
            s2.contains("file='\(shared)/rep01/rep01-s2.mem'") && s2.contains("file='\(shared)/rep01/rep01-s2.qcow2'")
        )
        #expect(try a.must(["snapshot-dumpxml", "rep01", "s3"]).contains("<source file='\(top)'"))
        #expect(try a.must(["dumpxml", "--inactive", "rep01"]).contains("<source file='\(top)'"))
        for old in [local + "/rep01-s2.qcow2", local + "/rep01-s2.mem", shared + "/rep01-s3.qcow2"] {
            #expect(!FileManager.default.fileExists(atPath: old), "\(old) was removed")
        }
        #expect(try Self.holds(top, 0x61), "the guest's data came along")
        let shown = try #require(try await bed.waitForVM("rep01") { $0.risks.isEmpty })
        #expect(shown.risks.isEmpty, "\(shown.risks)")
        let history = try await bed.json(["history", "--vm", "rep01"], as: [HistoryEntryJSON].self)
        #expect(history.first?.kind == "repair" && history.first?.steps.map(\.state).last == "committed")

        // A shut-off domain: copied, re-linked and redefined; it starts on the copies.
        _ = try #require(try await bed.waitForVM("rep03") { $0.owner == "a" && $0.state != "Running" })
        let off = try await bed.cli(["repair", "rep03", "--json"])
        #expect(off.status == 0, "\(off.out) \(off.err)")
        let offTop = shared + "/rep03/rep03-s3.qcow2"
        #expect(try a.must(["dumpxml", "--inactive", "rep03"]).contains("<source file='\(offTop)'"))
        #expect(try Self.backingChain(offTop)?.dropFirst().first == shared + "/rep03/rep03-s2.qcow2")
        #expect(try a.must(["snapshot-dumpxml", "rep03", "s2"]).contains("file='\(shared)/rep03/rep03-s2.mem'"))
        #expect(!FileManager.default.fileExists(atPath: shared + "/rep03-s3.qcow2"))
        try a.must(["start", "rep03"])
        #expect(try Self.runningDisk(a, "rep03") == offTop)

        // And now it moves.
        let migrated = try await bed.cli(["migrate", "rep01", "--to", "b", "--json"])
        #expect(migrated.status == 0, "\(migrated.out) \(migrated.err)")
        let b = try #require(bed.hosts["b"])
        #expect(try b.must(["domstate", "rep01"]).contains("running"))

        // rep02, stranded the same way, with `--stranded repair`: draining a repairs it first, then moves it.
        let bad = try await bed.cli(["policy", "set", "rep02", "--stranded", "sometimes"])
        #expect(bad.status == 1 && bad.err.contains("stranded must be refuse or repair"), "\(bad.err)")
        let policy = try await bed.cli(["policy", "set", "rep02", "--stranded", "repair", "--json"])
        #expect(policy.status == 0, "\(policy.err)")
        #expect(try JSONDecoder().decode(PolicyJSON.self, from: Data(policy.out.utf8)).stranded == "repair")
        #expect(try await bed.cli(["policy", "show", "rep02"]).out.contains("when stranded"))
        let drained = try await bed.cli(["drain", "a", "--json"])
        #expect(drained.status == 0, "\(drained.out) \(drained.err)")
        let drain = try JSONDecoder().decode(DrainResponse.self, from: Data(drained.out.utf8))
        #expect(drain.repaired?.map(\.vm) == ["rep02"] && drain.repaired?.first?.volume == "shared", "\(drain)")
        // rep03, repaired above and running on a again, moves too.
        #expect(Set(drain.moved.map(\.vm)) == ["rep02", "rep03"], "\(drain)")
        #expect(drain.moved.allSatisfy { $0.target == "b" }, "\(drain)")
        #expect(drain.stayed.isEmpty, "\(drain.stayed)")
        #expect(try b.must(["domstate", "rep02"]).contains("running"))
        #expect(try Self.runningDisk(b, "rep02") == shared + "/rep02/rep02-s3.qcow2")
        #expect(try Self.holds(shared + "/rep02/rep02-s3.qcow2", 0x62), "rep02's data came along")
        #expect(!FileManager.default.fileExists(atPath: local + "/rep02-s2.qcow2"))
    }

    @Test func aCrashOfTheCoordinatorOrTheAgentAtAnyRepairStepLeavesACompleteChainTheDomainRunsOn() async throws {
        var bed = try Testbed()
        defer {
            bed.stop()
            if ProcessInfo.processInfo.environment["CHAINKEEPER_KEEP_TESTBED"] == nil { bed.remove() }
        }
        let a = try #require(bed.hosts["a"])
        let coordinatorPoints = ["planned", "preflight", "applying", "applied"]
        let agentPoints = [
            "checkpoint-apply", "repair-copied", "repair-block-copy", "repair-switched", "repair-removing",
            "checkpoint-applied",
        ]
        let names = (0..<(coordinatorPoints.count + agentPoints.count)).map { "rc\($0)" }
        for name in names { try Self.strandedDomain(bed, name) }
        // A long lease: an agent killed for a few seconds is not declared down, and its watchdog does not fence.
        try await bed.start(leaseTTL: "60s", commandTimeout: "5s")
        for name in names {
            _ = try #require(try await bed.waitForVM(name) { $0.hypervisorMetadata?.held == true && $0.owner == "a" })
            try Self.mark(a, name, 0x71)
        }

        /// The domain runs on a chain that resolves, holding its data: the copies, or the originals; with `finished`,
        /// the originals are gone exactly when it runs on the copies.
        func check(_ name: String, repaired: Bool, finished: Bool = true, _ context: String) throws {
            #expect(try a.must(["domstate", name]).contains("running"), "\(context): running")
            let top = try #require(try Self.runningDisk(a, name))
            let expected =
                repaired ? bed.shared + "/\(name)/\(name)-s3.qcow2" : bed.shared + "/\(name)-s3.qcow2"
            #expect(top == expected, "\(context): runs on \(top)")
            let chain = try Self.backingChain(top)
            #expect(chain?.count == 4, "\(context): the chain resolves: \(chain ?? [])")
            #expect(try Self.holds(top, 0x71), "\(context): the data is intact")
            let middle = repaired ? bed.shared + "/\(name)/\(name)-s2.qcow2" : bed.local("a") + "/\(name)-s2.qcow2"
            #expect(chain?.dropFirst().first == middle, "\(context): \(chain ?? [])")
            if finished {
                #expect(FileManager.default.fileExists(atPath: bed.local("a") + "/\(name)-s2.mem") == !repaired)
            }
        }

        func restartCoordinator(crashAfter: String?) async throws {
            _ = bed.coordinator?.stop(SIGKILL)
            try bed.startCoordinator(
                leaseTTL: "60s",
                commandTimeout: "5s",
                environment: crashAfter.map { ["CHAINKEEPERD_CRASH_AFTER": $0] } ?? [:]
            )
            for _ in 0..<100 where Daemons.httpGet(port: bed.port, path: "/healthz") != "ok\n" {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .seconds(1))
        }

        // The coordinator killed right after journaling each step: before `applying` the repair is aborted and nothing
        // was touched; from `applying` on it is finished after the restart.
        for (index, state) in coordinatorPoints.enumerated() {
            let name = names[index]
            try await restartCoordinator(crashAfter: state)
            // After `applying`, with --keep-old: the journaled order carries it through the recovery.
            let keepOld = state == "applying"
            let run = try await bed.cli(["repair", name] + (keepOld ? ["--keep-old"] : []))
            #expect(run.status != 0, "the coordinator died after \(state)")
            try await restartCoordinator(crashAfter: nil)
            let entry = try await Self.settled(bed, name)
            let done = state == "applying" || state == "applied"
            #expect(entry?.state == (done ? "committed" : "aborted"), "crash after \(state): \(entry?.steps ?? [])")
            try check(name, repaired: done, finished: !keepOld, "coordinator killed after \(state)")
            if keepOld {
                for kept in [bed.local("a") + "/\(name)-s2.qcow2", bed.local("a") + "/\(name)-s2.mem"] {
                    #expect(FileManager.default.fileExists(atPath: kept), "--keep-old kept \(kept)")
                }
            }
        }

        // The agent killed at each of its steps and restarted: the coordinator sends the apply again and the agent
        // finishes (a copy in place is verified and kept, a block copy that runs is waited for, a pivoted disk left).
        for (offset, point) in agentPoints.enumerated() {
            let name = names[coordinatorPoints.count + offset]
            _ = bed.agents["a"]?.stop(SIGKILL)
            try bed.startAgent("a", environment: ["CHAINKEEPER_AGENT_CRASH_AT": point])
            try await Task.sleep(for: .seconds(2))
            let running = Task { [bed] in try await bed.cli(["repair", name]) }
            let agent = try #require(bed.agents["a"])
            for _ in 0..<300 where agent.process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
            #expect(!agent.process.isRunning, "the agent reached \(point)")
            try check(
                name,
                repaired: ["repair-switched", "repair-removing", "checkpoint-applied"].contains(point),
                finished: point == "checkpoint-applied",
                "agent killed at \(point), before its restart"
            )
            try bed.startAgent("a")
            let run = try await running.value
            #expect(run.status == 0, "repair with the agent killed at \(point): \(run.out) \(run.err)")
            try check(name, repaired: true, "agent killed at \(point)")
        }
    }
}
