import AgentService
import ClusterAPI
import ClusterTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real coordinator and three real agent processes on loopback, over the disks of `ClusterLayout` (issue 4's
/// scenario), queried with the real CLI.
@Suite(.serialized) struct ClusterEndToEndTests {
    static let adminToken = "e2e-admin-token-0123456789"

    struct Cluster {
        let layout: ClusterLayout
        let port: Int
        var coordinator: DaemonProcess?
        var agents: [String: DaemonProcess] = [:]
        /// The TCP proxies between some agents and the coordinator (`proxied`), which a test cuts like a partition.
        var proxies: [String: TCPProxy] = [:]

        var coordinatorConfig: String { layout.root + "/coordinator.yaml" }
        /// With TLS: the CA directory, certificates under `certs/`; the CLI then uses the admin certificate.
        var tls: Bool = false
        var certs: String { layout.root + "/certs" }
        var url: String { tls ? "https://127.0.0.1:\(port)" : "http://127.0.0.1:\(port)" }
        var environment: [String: String] {
            tls
                ? [
                    "CHAINKEEPER_URL": url, "CHAINKEEPER_CA": layout.root + "/ca/ca.crt",
                    "CHAINKEEPER_CERT": certs + "/ops.crt", "CHAINKEEPER_KEY": certs + "/ops.key",
                ]
                : ["CHAINKEEPER_URL": url, "CHAINKEEPER_TOKEN": ClusterEndToEndTests.adminToken]
        }

        /// A cluster on `layout`, with options for the failover and libvirt tests.
        ///
        /// `leaseTTL` shortens the lease for failover tests; `fenceHooks` gives each agent a fence hook that appends
        /// the wall time in nanoseconds to `fence-NODE.log`.
        /// `libvirtNodes` read their VMs from libvirt domain and snapshot XML (`ClusterLayout.writeLibvirt`) instead of
        /// a `hyperv-json` export. `coordinatorExtra` is appended to the coordinator's YAML.
        init(
            layout: ClusterLayout,
            leaseTTL: String = "10s",
            fenceHooks: Bool = false,
            libvirtNodes: Set<String> = [],
            tls: Bool = false,
            coordinatorExtra: String = "",
            proxied: Set<String> = [],
            checkpointHooks: Set<String> = []
        ) throws {
            self.layout = layout
            self.tls = tls
            port = Daemons.freePort()
            for node in proxied { proxies[node] = try TCPProxy(forwardingTo: port) }
            if tls {
                // The CA and every certificate, made with the real CLI: a server certificate for 127.0.0.1 only,
                // a node certificate per agent, an admin certificate for the CLI.
                let cli = Daemons.chainkeeper
                var runs = [
                    ["ca", "init", layout.root + "/ca"], ["ca", "issue", layout.root + "/ca", "--server", "127.0.0.1"],
                ]
                runs += ["a", "b", "c"].map { ["ca", "issue", layout.root + "/ca", "--node", $0] }
                runs.append(["ca", "issue", layout.root + "/ca", "--admin", "ops"])
                for arguments in runs {
                    let extra = arguments[1] == "issue" ? ["--out", layout.root + "/certs"] : []
                    let result = try Daemons.runBlocking(cli, arguments + extra, environment: [:])
                    guard result.status == 0 else { throw CocoaError(.fileWriteUnknown) }
                }
                // The client CA bundle the coordinator reads (and re-reads on SIGHUP).
                try FileManager.default.copyItem(
                    atPath: layout.root + "/ca/ca.crt",
                    toPath: layout.root + "/client-ca.pem"
                )
            }
            try """
            listen: "127.0.0.1:\(port)"
            dataDir: \(layout.root)/coordinator
            adminTokens: [\(ClusterEndToEndTests.adminToken)]
            commandTimeout: 8s
            leaseTTL: \(leaseTTL)
            agentTokens: {a: token-node-a-000000, b: token-node-b-000000, c: token-node-c-000000}
            """.appending(coordinatorExtra.isEmpty ? "" : "\n" + coordinatorExtra).appending(
                tls
                    ? """

                    tls: {certificate: \(layout.root)/certs/127.0.0.1.crt, key: \(layout.root)/certs/127.0.0.1.key, \
                    clientCA: \(layout.root)/client-ca.pem}
                    """ : ""
            ).write(toFile: coordinatorConfig, atomically: true, encoding: .utf8)
            for node in ["a", "b", "c"] {
                let volumes = node == "c" ? [layout.root + "/c-mnt"] : [layout.shared, layout.local(node)]
                var config: [String: Any] = [
                    "node": node, "coordinator": "http://127.0.0.1:\(proxies[node]?.port ?? port)",
                    "token": "token-node-\(node)-000000",
                    "dataDir": layout.root + "/agent-\(node)", "volumes": volumes,
                    "inventory": ["driver": "hyperv-json", "path": layout.inventory(node)], "heartbeat": "500ms",
                    "rescan": "1s", "memoryMiB": 65536,
                    "hooks": [
                        "release":
                            "echo \"$CHAINKEEPER_OPERATION $CHAINKEEPER_VM_NAME $CHAINKEEPER_EPOCH\" >> \(layout.root)/hooks-\(node).log",
                        // A test can make this node's adopt hang (to kill the agent in the middle of it).
                        "adopt": "touch \(layout.root)/adopting-\(node); if [ -f \(layout.root)/slow-adopt-\(node) ]; "
                            + "then sleep 60; fi; "
                            + "echo \"$CHAINKEEPER_OPERATION $CHAINKEEPER_VM_NAME $CHAINKEEPER_EPOCH\" >> \(layout.root)/hooks-\(node).log",
                    ],
                ]
                if tls {
                    config["coordinator"] = "https://127.0.0.1:\(port)"
                    config["token"] = nil
                    config["tls"] = [
                        "ca": layout.root + "/ca/ca.crt", "certificate": layout.root + "/certs/\(node).crt",
                        "key": layout.root + "/certs/\(node).key",
                    ]
                }
                if libvirtNodes.contains(node) {
                    config["inventory"] = [
                        "driver": "libvirt", "domains": layout.libvirtDomains(node),
                        "snapshots": layout.libvirtSnapshots(node), "stateCommand": "echo running",
                        // The host's own /run/libvirt/qemu is never read by a test.
                        "live": layout.root + "/libvirt-\(node)/run",
                    ]
                }
                if checkpointHooks.contains(node), var hooks = config["hooks"] as? [String: String] {
                    // Keeps the plan and logs what it was asked, as a real hook would act on it.
                    hooks["checkpoint"] =
                        "cp \"$CHAINKEEPER_PLAN\" \(layout.root)/plan-\(node).json && echo \"$CHAINKEEPER_OPERATION "
                        + "$CHAINKEEPER_VM_NAME $CHAINKEEPER_CHECKPOINT $CHAINKEEPER_TARGET_VOLUME\" >> "
                        + "\(layout.root)/checkpoint-\(node).log"
                    config["hooks"] = hooks
                }
                if fenceHooks, var hooks = config["hooks"] as? [String: String] {
                    hooks["fence"] = "date +%s%N >> \(layout.root)/fence-\(node).log"
                    // The isolation response's stop: the test's stand-in hypervisor lists the VM off afterwards when
                    // the test left the inventory to switch to.
                    let stopped = layout.inventory(node) + ".stopped"
                    hooks["stop"] =
                        "if [ -f \(stopped) ]; then cp \(stopped) \(stopped).tmp && mv \(stopped).tmp "
                        + "\(layout.inventory(node)); fi; echo \"$CHAINKEEPER_VM_NAME $(date +%s%N)\" >> "
                        + "\(layout.root)/stop-\(node).log"
                    config["hooks"] = hooks
                }
                // JSON is valid YAML: the agent reads either.
                try JSONSerialization.data(withJSONObject: config).write(
                    to: URL(fileURLWithPath: layout.root + "/agent-\(node).json")
                )
            }
        }

        mutating func startCoordinator(environment: [String: String] = [:]) async throws {
            let process = try DaemonProcess(
                Daemons.chainkeeperd,
                ["coordinator", "--config", coordinatorConfig],
                environment: environment,
                logPath: layout.root + "/coordinator-\(UUID().uuidString.prefix(8)).log"
            )
            coordinator = process
            for _ in 0..<100 {
                if tls {
                    if process.log.contains("listening on https://") { return }
                } else if Daemons.httpGet(port: port, path: "/healthz") == "ok\n" {
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("the coordinator did not answer /healthz: \(process.log)")
        }

        mutating func startAgents() throws {
            for node in ["a", "b", "c"] {
                agents[node] = try DaemonProcess(
                    Daemons.chainkeeperd,
                    ["agent", "--config", layout.root + "/agent-\(node).json"],
                    environment: [:],
                    logPath: layout.root + "/agent-\(node).log"
                )
            }
        }

        /// Stops the agents and the coordinator, then tells every node's watchdog to exit: an agent stopped while it
        /// owns VMs leaves its watchdog armed on purpose, and a test must not leave it running.
        func stopAll() {
            for proxy in proxies.values { proxy.stop() }
            for agent in agents.values { agent.stop() }
            coordinator?.stop()
            for node in ["a", "b", "c"] {
                try? "exit\n".write(
                    toFile: layout.root + "/agent-\(node)/watchdog.feed",
                    atomically: true,
                    encoding: .utf8
                )
            }
        }

        func cli(_ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
            try await Daemons.run(Daemons.chainkeeper, arguments, environment: environment)
        }

        func json<T: Decodable>(_ arguments: [String], as type: T.Type) async throws -> T {
            let result = try await cli(arguments + ["--json"])
            return try JSONDecoder().decode(T.self, from: Data(result.out.utf8))
        }

        /// Polls `audit --json` until `done` holds (or 60 s pass); returns the last answer.
        func waitForAudit(_ done: (AuditResponse) -> Bool) async throws -> AuditResponse? {
            var last: AuditResponse?
            for _ in 0..<240 {
                if let audit = try? await json(["audit"], as: AuditResponse.self) {
                    last = audit
                    if done(audit) { return audit }
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            return last
        }
    }

    static let risky: Set<String> = ["memlocal", "midlocal", "lostparent"]

    @Test func threeAgentsReportTheStrandedVMsAndSurviveACoordinatorRestart() async throws {
        let layout = try ClusterLayout()
        defer { layout.remove() }
        let inventories = try layout.buildScenario()
        for (node, vms) in inventories { try layout.writeInventory(node, vms) }
        var cluster = try Cluster(layout: layout)
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents()

        // Converged: every node reported, every probe verified, and only the three risky VMs carry risks.
        let audit = try #require(
            try await cluster.waitForAudit { audit in
                Set(audit.risks.compactMap(\.vm)) == Self.risky && audit.risks.allSatisfy { $0.vm != nil }
            }
        )
        #expect(
            Set(audit.risks.compactMap(\.vm)) == Self.risky && audit.risks.allSatisfy { $0.vm != nil },
            "audit: \(audit.risks.map { "\($0.code) \($0.vm ?? "-") \($0.path ?? "")" })"
        )
        let byVM = Dictionary(grouping: audit.risks, by: { $0.vm ?? "" })
        #expect(byVM["memlocal"]?.map(\.code) == ["file-on-local-volume"])
        #expect(byVM["memlocal"]?.first?.path == layout.local("b") + "/memlocal/s1.vmrs")
        #expect(byVM["memlocal"]?.first?.volume == "b-local")
        #expect(byVM["midlocal"]?.map(\.code) == ["file-on-local-volume"])
        #expect(byVM["midlocal"]?.first?.path == layout.local("c") + "/midlocal/mid.avhdx")
        #expect(byVM["midlocal"]?.first?.volume == "c-local")
        #expect(byVM["lostparent"]?.map(\.code) == ["file-missing"])
        #expect(byVM["lostparent"]?.first?.path == layout.shared + "/lostparent/cur.avhdx")
        #expect(audit.risks.allSatisfy { $0.severity == "critical" })
        let auditRun = try await cluster.cli(["audit"])
        #expect(auditRun.status == 3, "audit exits 3 when a critical risk exists")

        // check: every reason, the SPEC's exit codes, nothing moved.
        let safeCheck = try await cluster.cli(["check", "safe01", "--to", "a", "--json"])
        #expect(safeCheck.status == 0)
        #expect(try JSONDecoder().decode(CheckResponse.self, from: Data(safeCheck.out.utf8)).allowed)
        let memCheck = try await cluster.cli(["check", "memlocal", "--to", "a", "--json"])
        #expect(memCheck.status == 3)
        let refusal = try JSONDecoder().decode(CheckResponse.self, from: Data(memCheck.out.utf8))
        #expect(refusal.reasons.map(\.code) == ["file-on-local-volume"])
        #expect(refusal.reasons.first?.path == layout.local("b") + "/memlocal/s1.vmrs")
        #expect(refusal.reasons.first?.snapshot == "checkpoint s1")
        #expect(try await cluster.cli(["check", "no-such-vm", "--to", "a"]).status == 4)
        #expect(try await cluster.cli(["check", "safe01", "--to", "no-such-node"]).status == 4)
        let human = try await cluster.cli(["check", "midlocal", "--to", "b"])
        #expect(human.status == 3 && human.out.contains("file-on-local-volume") && human.out.contains("mid.avhdx"))

        // whatif: c's shared VM would move, its VM with a middle AVHDX on c's local volume would be held.
        let whatif = try await cluster.cli(["whatif", "fail", "c", "--json"])
        #expect(whatif.status == 3)
        let plan = try JSONDecoder().decode(WhatIfResponse.self, from: Data(whatif.out.utf8))
        #expect(plan.moves.map(\.vm) == ["safe01"])
        #expect(plan.blocked.map(\.vm) == ["midlocal"])
        #expect(plan.blocked.first?.reasons.map(\.code) == ["file-on-local-volume"])
        #expect(plan.blocked.first?.reasons.first?.path == layout.local("c") + "/midlocal/mid.avhdx")
        #expect(try await cluster.cli(["whatif", "fail", "no-such-node"]).status == 4)

        let stranded = try await cluster.json(["vms", "--stranded"], as: [VMSummaryJSON].self)
        #expect(Set(stranded.map(\.name)) == Self.risky)
        let all = try await cluster.json(["vms"], as: [VMSummaryJSON].self)
        #expect(
            Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.owner) }) == [
                "safe01": "c", "midlocal": "c", "memlocal": "b", "lostparent": "a", ClusterLayout.hostileName: "a",
            ]
        )

        let volumes = try await cluster.json(["volumes"], as: [VolumeJSON].self)
        let table = try await cluster.cli(["volumes"])
        #expect(table.out.contains("FREE") && table.out.contains("shared"))
        let byName = Dictionary(uniqueKeysWithValues: volumes.map { ($0.name, $0) })
        #expect(byName["shared"]?.reachableFrom == ["a", "b", "c"])
        #expect(byName["shared"]?.kind == "shared")
        #expect((byName["shared"]?.freeBytes ?? 0) > 0, "agents measure free space")
        for node in ["a", "b", "c"] {
            #expect(byName["\(node)-local"]?.reachableFrom == [node])
            #expect(byName["\(node)-local"]?.kind == "local")
        }

        // Every file of safe01 (reported through c's symlinked mount) is on the shared volume, its chain walked.
        let safe = try await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self)
        #expect(safe.files.count == 5)
        #expect(safe.files.allSatisfy { $0.volume == "shared" })
        #expect(safe.chains.first { $0.snapshotId == nil }?.paths.count == 3)
        #expect(safe.risks.isEmpty)
        let mid = try await cluster.json(["vm", "show", "midlocal"], as: VMDetailJSON.self)
        #expect(
            Dictionary(uniqueKeysWithValues: mid.files.map { (LocalPathName.last($0.path), $0.volume ?? "-") }) == [
                "base.vhdx": "shared", "mid.avhdx": "c-local", "leaf.avhdx": "shared", "midlocal.vmcx": "shared",
            ]
        )

        // The hostile name is data everywhere: in vm show and in query.
        let hostile = try await cluster.json(["vm", "show", ClusterLayout.hostileName], as: VMDetailJSON.self)
        #expect(hostile.name == ClusterLayout.hostileName)
        let query = try await cluster.json(
            ["query", "SELECT name, owner FROM vms WHERE name LIKE 'it''s%'"],
            as: QueryResponse.self
        )
        #expect(query.rows == [[.text(ClusterLayout.hostileName), .text("a")]])

        // The coordinator goes away while the agents keep rescanning; a new VM appears on b meanwhile.
        let stopped = cluster.coordinator?.stop(SIGTERM)
        #expect(stopped == 0)
        let late = layout.shared + "/late01"
        try layout.chain([late + "/base.vhdx", late + "/cur.avhdx"])
        try layout.touch(late + "/late01.vmcx")
        try layout.writeInventory(
            "b",
            inventories["b", default: []] + [
                ClusterLayout.vm("late01", configuration: late + "/late01.vmcx", disks: [late + "/cur.avhdx"])
            ]
        )
        // The report naming late01 waits in b's outbox, in its own database.
        let outbox = try AgentDatabase(path: layout.root + "/agent-b/agent.sqlite")
        var queued: AgentReport?
        for _ in 0..<80 where queued == nil {
            if let message = try outbox.nextMessage(),
                let report = try? JSONDecoder().decode(AgentReport.self, from: message.body),
                report.vms.contains(where: { $0.name == "late01" })
            {
                queued = report
            } else {
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        #expect(queued != nil, "b's report with late01 is in its outbox while the coordinator is down")

        try await cluster.startCoordinator()
        var arrived = false
        for _ in 0..<120 where !arrived {
            arrived = try await cluster.cli(["vm", "show", "late01"]).status == 0
            if !arrived { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(arrived, "late01 reached the restarted coordinator")
        let after = try await cluster.json(["vms"], as: [VMSummaryJSON].self)
        #expect(Set(after.map(\.name)) == Set(all.map(\.name)).union(["late01"]), "nothing was lost")
        let stillRisky = try await cluster.waitForAudit { Set($0.risks.compactMap(\.vm)) == Self.risky }
        #expect(Set(stillRisky?.risks.compactMap(\.vm) ?? []) == Self.risky)

        for (node, agent) in cluster.agents {
            #expect(agent.stop(SIGTERM) == 0, "agent \(node) stops cleanly: \(agent.log.suffix(2000))")
            #expect(agent.log.contains("agent stopped"))
        }
    }
}

extension ClusterEndToEndTests {
    /// `hyperv-json` version 2 (issue 24): the next checkpoint's risk before any checkpoint exists, a mounted ISO in
    /// the file set, and a merge Hyper-V reports pending.
    @Test func versionTwoInventoriesShowTheNextCheckpointsRiskMountedISOsAndPendingMerges() async throws {
        let layout = try ClusterLayout()
        defer { layout.remove() }
        // next01 on a: every file shared, no checkpoint yet, but its checkpoint file location is a's local volume
        // and an ISO from a's local volume sits in its DVD drive.
        let next = layout.shared + "/next01"
        try layout.chain([next + "/disk.vhdx"])
        try layout.touch(next + "/next01.vmcx")
        try layout.touch(layout.local("a") + "/iso/tools.iso", bytes: 65536)
        var next01 = ClusterLayout.vm("next01", configuration: next + "/next01.vmcx", disks: [next + "/disk.vhdx"])
        next01["checkpointFileLocation"] = layout.local("a") + "/next01"
        next01["smartPagingFilePath"] = next
        next01["dvdDrives"] = [layout.local("a") + "/iso/tools.iso"]
        next01["currentSnapshotId"] = NSNull()
        // ok01 on a: its checkpoint file location on the shared volume: no risk.
        let ok = layout.shared + "/ok01"
        try layout.chain([ok + "/disk.vhdx"])
        try layout.touch(ok + "/ok01.vmcx")
        var ok01 = ClusterLayout.vm("ok01", configuration: ok + "/ok01.vmcx", disks: [ok + "/disk.vhdx"])
        ok01["checkpointFileLocation"] = ok + "/Snapshots"
        // merge01 on b: Hyper-V reports a checkpoint merge still running.
        let merge = layout.shared + "/merge01"
        try layout.chain([merge + "/disk.vhdx"])
        try layout.touch(merge + "/merge01.vmcx")
        var merge01 = ClusterLayout.vm("merge01", configuration: merge + "/merge01.vmcx", disks: [merge + "/disk.vhdx"])
        merge01["mergePending"] = true
        try layout.writeInventory("a", [next01, ok01], version: 2)
        // hook01 on b, whose node takes checkpoints through its `checkpoint` hook.
        let hooked = layout.shared + "/hook01"
        try layout.chain([hooked + "/disk.vhdx"])
        try layout.touch(hooked + "/hook01.vmcx")
        let hook01 = ClusterLayout.vm("hook01", configuration: hooked + "/hook01.vmcx", disks: [hooked + "/disk.vhdx"])
        try layout.writeInventory("b", [merge01, hook01], version: 2)
        // c keeps a version 1 file: it still works.
        try layout.writeInventory("c", [])
        var cluster = try Cluster(layout: layout, checkpointHooks: ["b"])
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents()

        let settled: Set<String> = [
            "file-on-local-volume next01 \(layout.local("a"))/iso/tools.iso",
            "checkpoint-location-local next01 \(layout.local("a"))/next01",
        ]
        func vmRisks(_ audit: AuditResponse) -> Set<String> {
            Set(audit.risks.filter { $0.vm != nil }.map { "\($0.code) \($0.vm ?? "") \($0.path ?? "")" })
        }
        // Settled: the shared volume verified from every node. Until then its files are `file-on-local-volume` (no
        // other node verified yet) or `limited-failover` (some), and an audit taken then names shared files too.
        let audit = try #require(try await cluster.waitForAudit { vmRisks($0) == settled })
        #expect(vmRisks(audit) == settled)
        let location = try #require(audit.risks.first { $0.code == "checkpoint-location-local" })
        #expect(location.severity == "warning")
        #expect(location.volume == "a-local")
        let shown = try await cluster.cli(["vm", "show", "next01", "--json"])
        let detail = try JSONDecoder().decode(VMDetailJSON.self, from: Data(shown.out.utf8))
        #expect(detail.snapshots.isEmpty)
        #expect(detail.files.first { $0.path.hasSuffix("tools.iso") }?.kind == "media")
        // The ISO strands a move like any file; the pending merge refuses one.
        let moveNext = try await cluster.cli(["check", "next01", "--to", "b", "--json"])
        #expect(moveNext.status == 3)
        let nextRefusal = try JSONDecoder().decode(CheckResponse.self, from: Data(moveNext.out.utf8))
        #expect(nextRefusal.reasons.map(\.code) == ["file-on-local-volume"], "\(nextRefusal.reasons)")
        #expect(nextRefusal.reasons.first?.message.contains("mounted ISO") == true)
        let moveMerge = try await cluster.cli(["check", "merge01", "--to", "a", "--json"])
        #expect(moveMerge.status == 3)
        let mergeRefusal = try JSONDecoder().decode(CheckResponse.self, from: Data(moveMerge.out.utf8))
        #expect(mergeRefusal.reasons.map(\.code) == ["operation-in-progress"], "\(mergeRefusal.reasons)")
        #expect(mergeRefusal.reasons.first?.message.contains("merge") == true)
        // What a repair would do (issue 25): the ISO to next01's folder on the shared volume.
        #expect(audit.risks.first { $0.code == "file-on-local-volume" }?.repairTo == "shared")
        let dryRun = try await cluster.cli(["repair", "next01", "--dry-run", "--json"])
        #expect(dryRun.status == 0, "\(dryRun.out) \(dryRun.err)")
        let repair = try JSONDecoder().decode(RepairResponse.self, from: Data(dryRun.out.utf8))
        #expect(repair.volume == "shared" && repair.dryRun)
        #expect(repair.files.map(\.to) == [layout.shared + "/next01/tools.iso"])
        #expect(repair.files.first?.size == 65536)
        // The repair itself: journaled, and refused by the owner's preflight, a Hyper-V node with no `repair` hook.
        let unhooked = try await cluster.cli(["repair", "next01", "--to-volume", "shared", "--json"])
        #expect(unhooked.status == 3, "\(unhooked.out) \(unhooked.err)")
        let refusedByOwner = try JSONDecoder().decode(RepairResponse.self, from: Data(unhooked.out.utf8))
        #expect(refusedByOwner.state == "aborted" && refusedByOwner.operationId != nil)
        #expect(refusedByOwner.reasons.map(\.code) == ["checkpoint-unsupported"], "\(refusedByOwner.reasons)")
        #expect(refusedByOwner.reasons.first?.message.contains("`repair` hook") == true)
        let toLocal = try await cluster.cli(["repair", "next01", "--to-volume", "a-local", "--dry-run"])
        #expect(toLocal.status == 3, "\(toLocal.out)")
        #expect(try await cluster.cli(["repair", "next01", "--to-volume", "no-such-volume", "--dry-run"]).status == 4)
        let moveOK = try await cluster.cli(["check", "ok01", "--to", "b", "--json"])
        #expect(moveOK.status == 0, "\(moveOK.out)")

        // Checkpoint commands on a Hyper-V node: journaled, and refused by the owner, which has no checkpoint hook;
        // unknown VMs and checkpoints exit 4; a pending merge refuses before anything is journaled.
        let create = try await cluster.cli(["checkpoint", "create", "ok01", "c1", "--json"])
        #expect(create.status == 3, "\(create.out) \(create.err)")
        let refused = try JSONDecoder().decode(CheckpointResponse.self, from: Data(create.out.utf8))
        #expect(refused.state == "aborted" && refused.reasons.map(\.code) == ["checkpoint-unsupported"])
        #expect(try await cluster.cli(["checkpoint", "list", "no-such-vm"]).status == 4)
        #expect(try await cluster.cli(["checkpoint", "delete", "ok01", "no-such-checkpoint"]).status == 4)
        #expect(try await cluster.cli(["checkpoint", "create", "ok01", "../evil"]).status == 1)
        let busy = try await cluster.cli(["checkpoint", "create", "merge01", "c1", "--json"])
        #expect(busy.status == 3)
        let busyAnswer = try JSONDecoder().decode(CheckpointResponse.self, from: Data(busy.out.utf8))
        #expect(busyAnswer.operationId == nil && busyAnswer.reasons.map(\.code) == ["operation-in-progress"])
        let history = try await cluster.cli(["history", "--vm", "ok01"])
        #expect(history.out.contains("on a  checkpoint-create"), "\(history.out)")

        // Through b's checkpoint hook: the environment and the plan file it gets.
        let hookRun = try await cluster.cli(["checkpoint", "create", "hook01", "c1", "--memory", "--json"])
        #expect(hookRun.status == 0, "\(hookRun.out) \(hookRun.err)")
        let logged = try String(contentsOfFile: layout.root + "/checkpoint-b.log", encoding: .utf8)
        #expect(logged == "checkpoint-create hook01 c1 \(hooked)\n", "\(logged)")
        let plan = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: layout.root + "/plan-b.json"))
        )
        let fields = try #require(plan as? [String: Any])
        #expect(fields["action"] as? String == "create" && fields["memory"] as? Bool == true)
        #expect(fields["description"] is NSNull, "every field present for PowerShell's strict mode")
        #expect(
            (fields["files"] as? [[String: Any]])?.compactMap { $0["path"] as? String } == [
                hooked + "/hook01.c1.avhdx", hooked + "/hook01.c1.vmrs",
            ]
        )
    }

    /// Issue 5's scenario: a VM on the shared volume moves with its whole chain; a stranded one is refused and nothing
    /// changes; a file deleted after the last inventory is caught by the target's own preflight.
    @Test func migrationMovesTheWholeChainAndRefusesWhatWouldStrand() async throws {
        let layout = try ClusterLayout()
        defer { layout.remove() }
        for (node, vms) in try layout.buildScenario() { try layout.writeInventory(node, vms) }
        var cluster = try Cluster(layout: layout)
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents()
        _ = try #require(
            try await cluster.waitForAudit { audit in
                Set(audit.risks.compactMap(\.vm)) == Self.risky && audit.risks.allSatisfy { $0.vm != nil }
            }
        )

        // safe01 moves from c to a: committed, epoch 2, hooks run on both sides with the migration's epoch.
        let moved = try await cluster.cli(["migrate", "safe01", "--to", "a", "--json"])
        #expect(moved.status == 0, "\(moved.out) \(moved.err)")
        let outcome = try JSONDecoder().decode(CheckResponse.self, from: Data(moved.out.utf8))
        #expect(outcome.state == "committed")
        #expect(outcome.epoch == 2)
        let shown = try await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self)
        #expect(shown.owner == "a")
        #expect(shown.epoch == 2)
        #expect(try String(contentsOfFile: layout.root + "/hooks-c.log", encoding: .utf8) == "release safe01 2\n")
        #expect(try String(contentsOfFile: layout.root + "/hooks-a.log", encoding: .utf8) == "adopt safe01 2\n")
        // a reports safe01 through its own mount of the shared volume; c no longer lists it; nothing new is at risk.
        var rebased = false
        for _ in 0..<80 where !rebased {
            let detail = try await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self)
            rebased = detail.files.allSatisfy { $0.path.hasPrefix(layout.shared + "/safe01/") }
            if !rebased { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(rebased, "the new owner's report describes safe01 with its own paths")
        let audit = try await cluster.waitForAudit { Set($0.risks.compactMap(\.vm)) == Self.risky }
        #expect(Set(audit?.risks.compactMap(\.vm) ?? []) == Self.risky)

        // memlocal would strand its memory file: refused with the file named, nothing journaled, nothing changed.
        let refused = try await cluster.cli(["migrate", "memlocal", "--to", "a", "--json"])
        #expect(refused.status == 3)
        let refusal = try JSONDecoder().decode(CheckResponse.self, from: Data(refused.out.utf8))
        #expect(refusal.reasons.map(\.code) == ["file-on-local-volume"])
        #expect(refusal.reasons.first?.path == layout.local("b") + "/memlocal/s1.vmrs")
        #expect(refusal.migrationId == nil)
        let memlocal = try await cluster.json(["vm", "show", "memlocal"], as: VMDetailJSON.self)
        #expect(memlocal.owner == "b" && memlocal.epoch == 1)

        // The hostile-named VM loses its disk while its owner's agent is stopped (SIGSTOP), so the cluster's data is
        // stale: the check passes, and the target's own preflight refuses.
        let ownerAgent = try #require(cluster.agents["a"])
        kill(ownerAgent.process.processIdentifier, SIGSTOP)
        try FileManager.default.removeItem(atPath: layout.shared + "/evil/disk.vhdx")
        let caught = try await cluster.cli(["migrate", ClusterLayout.hostileName, "--to", "b", "--json"])
        kill(ownerAgent.process.processIdentifier, SIGCONT)
        #expect(caught.status == 3, "\(caught.out) \(caught.err)")
        let preflight = try JSONDecoder().decode(CheckResponse.self, from: Data(caught.out.utf8))
        #expect(preflight.state == "aborted")
        #expect(preflight.migrationId != nil, "the refusal came from the journaled preflight, not from stale data")
        #expect(preflight.reasons.map(\.code) == ["file-missing"])
        #expect(preflight.reasons.first?.path == layout.shared + "/evil/disk.vhdx")
        let hostile = try await cluster.json(["vm", "show", ClusterLayout.hostileName], as: VMDetailJSON.self)
        #expect(hostile.owner == "a" && hostile.epoch == 1, "an aborted migration changes no owner")

        // history: every step of the committed move, the aborted one with its reason, who asked.
        let history = try await cluster.json(["history"], as: [HistoryEntryJSON].self)
        #expect(history.map(\.vm) == [ClusterLayout.hostileName, "safe01"])
        #expect(
            history.last?.steps.map(\.state) == [
                "planned", "preflight", "source-released", "target-adopted", "committed",
            ]
        )
        #expect(history.first?.state == "aborted")
        #expect(history.first?.steps.map(\.state) == ["planned", "preflight", "aborted"])
        #expect(history.first?.reasons.first?.code == "file-missing")
        #expect(history.first?.epoch == 2, "the aborted migration used up epoch 2")
        #expect(history.allSatisfy { $0.requestedBy == "admin" })
        let forVM = try await cluster.json(["history", "--vm", "safe01"], as: [HistoryEntryJSON].self)
        #expect(forVM.map(\.vm) == ["safe01"])

        // b's agent is killed (SIGKILL) in the middle of adopting safe01: the adopt never answers (it is sent again for
        // one lease, by when a silent b would have fenced itself), a adopts it back,
        // and after b restarts the VM is still owned once, by a, at the migration's epoch (which a adopted it back at).
        _ = FileManager.default.createFile(atPath: layout.root + "/slow-adopt-b", contents: nil)
        let environment = cluster.environment
        let pending = Task {
            try await Daemons.run(
                Daemons.chainkeeper,
                ["migrate", "safe01", "--to", "b", "--json"],
                environment: environment
            )
        }
        var adopting = false
        for _ in 0..<80 where !adopting {
            adopting = FileManager.default.fileExists(atPath: layout.root + "/adopting-b")
            if !adopting { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(adopting, "b started its adopt hook")
        cluster.agents["b"]?.stop(SIGKILL)
        let interrupted = try await pending.value
        #expect(interrupted.status == 1, "\(interrupted.out) \(interrupted.err)")
        let aborted = try JSONDecoder().decode(CheckResponse.self, from: Data(interrupted.out.utf8))
        #expect(aborted.state == "aborted")
        #expect(aborted.reasons.first?.message.contains("adopted it back") == true)
        try FileManager.default.removeItem(atPath: layout.root + "/slow-adopt-b")
        let lastReport = ["query", "SELECT last_inventory_at FROM nodes WHERE name = 'b'"]
        let reportBeforeRestart = try await cluster.json(lastReport, as: QueryResponse.self).rows
        cluster.agents["b"] = try DaemonProcess(
            Daemons.chainkeeperd,
            ["agent", "--config", layout.root + "/agent-b.json"],
            environment: [:],
            logPath: layout.root + "/agent-b-restarted.log"
        )
        let afterKill = try await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self)
        #expect(afterKill.owner == "a" && afterKill.epoch == 3)
        // Nothing lists safe01 but its owner: no registered-on-non-owner once the restarted b has reported again.
        var bReported = false
        for _ in 0..<80 where !bReported {
            bReported = try await cluster.json(lastReport, as: QueryResponse.self).rows != reportBeforeRestart
            if !bReported { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(bReported, "the restarted b has reported")
        // The hostile-named VM has lost its disk by now, so it is at risk too.
        let atRisk = Self.risky.union([ClusterLayout.hostileName])
        let settled = try await cluster.waitForAudit { Set($0.risks.compactMap(\.vm)) == atRisk }
        #expect(Set(settled?.risks.compactMap(\.vm) ?? []) == atRisk)
        #expect(!(settled?.risks.contains { $0.code == "registered-on-non-owner" } ?? true))
        #expect(try await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self).owner == "a")
    }
}

extension ClusterEndToEndTests {
    /// The coordinator kills itself (SIGKILL) right after journaling each state of a migration in turn, and is
    /// restarted: the VM always ends with exactly one owner that its agents agree on, and the journal entry final.
    @Test func aCoordinatorKilledAtEveryJournaledStepRecoversByTheJournal() async throws {
        let layout = try ClusterLayout()
        defer { layout.remove() }
        for (node, vms) in try layout.buildScenario() { try layout.writeInventory(node, vms) }
        var cluster = try Cluster(layout: layout)
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents()
        _ = try #require(
            try await cluster.waitForAudit { audit in
                Set(audit.risks.compactMap(\.vm)) == Self.risky && audit.risks.allSatisfy { $0.vm != nil }
            }
        )
        let files = try await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self).files.count

        // (crash point, target, the owner expected after recovery, the journal's final state)
        let steps: [(String, String, String, String)] = [
            ("planned", "a", "c", "aborted"), ("preflight", "a", "c", "aborted"),
            ("source-released", "a", "a", "committed"), ("target-adopted", "c", "c", "committed"),
            ("committed", "a", "a", "committed"),
        ]
        for (crashAfter, target, owner, final) in steps {
            cluster.coordinator?.stop(SIGTERM)
            try await cluster.startCoordinator(environment: ["CHAINKEEPERD_CRASH_AFTER": crashAfter])
            let crashed = try await cluster.cli(["migrate", "safe01", "--to", target])
            #expect(crashed.status == 1, "the CLI reports the lost coordinator (\(crashAfter))")
            let status = cluster.coordinator?.stop(SIGKILL)
            #expect(status == SIGKILL || status == 9, "the coordinator killed itself after \(crashAfter)")
            try await cluster.startCoordinator()

            // Recovery finished, the journal is final, and the owner is the one the journal's rule gives.
            var settled: (HistoryEntryJSON?, VMDetailJSON?)
            for _ in 0..<160 {
                let history = try? await cluster.json(["history", "--vm", "safe01"], as: [HistoryEntryJSON].self)
                let shown = try? await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self)
                settled = (history?.first, shown)
                let mounts = owner == "c" ? layout.sharedFromC : layout.shared
                if history?.first?.state == final, shown?.owner == owner,
                    shown?.files.allSatisfy({ $0.path.hasPrefix(mounts + "/safe01/") }) == true
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(settled.0?.state == final, "after a crash at \(crashAfter): \(settled.0?.steps.map(\.state) ?? [])")
            #expect(settled.1?.owner == owner, "owner after a crash at \(crashAfter)")
            #expect(settled.1?.files.count == files, "no file row lost (\(crashAfter))")
            // The agents agree: only the owner lists the VM, so nothing is registered on a non-owner.
            let audit = try await cluster.waitForAudit { Set($0.risks.compactMap(\.vm)) == Self.risky }
            #expect(Set(audit?.risks.compactMap(\.vm) ?? []) == Self.risky, "after a crash at \(crashAfter)")
        }
        let history = try await cluster.json(["history", "--vm", "safe01"], as: [HistoryEntryJSON].self)
        #expect(history.map(\.state) == ["committed", "committed", "committed", "aborted", "aborted"])
        #expect(history.map(\.epoch) == [6, 5, 4, 3, 2], "every migration used its own epoch")
        #expect(try await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self).epoch == 6)

        // The coordinator's database is lost; the agents' persisted epochs rebuild the same owners and epochs.
        let before = try await cluster.json(["vms"], as: [VMSummaryJSON].self)
        cluster.coordinator?.stop(SIGTERM)
        try FileManager.default.removeItem(atPath: layout.root + "/coordinator")
        try await cluster.startCoordinator()
        var rebuilt: [VMSummaryJSON] = []
        for _ in 0..<160 {
            rebuilt = (try? await cluster.json(["vms"], as: [VMSummaryJSON].self)) ?? []
            if rebuilt.count == before.count, rebuilt.first(where: { $0.name == "safe01" })?.epoch == 6 { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(
            Dictionary(uniqueKeysWithValues: rebuilt.map { ($0.name, "\($0.owner)@\($0.epoch)") })
                == Dictionary(uniqueKeysWithValues: before.map { ($0.name, "\($0.owner)@\($0.epoch)") })
        )
    }
}

enum LocalPathName {
    static func last(_ path: String) -> String { String(path.split(separator: "/").last ?? "") }
}
