import Agent
import ClusterAPI
import ClusterTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 23 against the real thing: two libvirt hosts (`LibvirtHost`: libvirtd, virtlogd and virtlockd in their own
/// namespaces, QEMU in TCG mode), a real coordinator and two real agents with the built-in libvirt hand-off.
@Suite(.serialized) struct LibvirtHostsEndToEndTests {
    static let adminToken = "libvirt-admin-token-0123456789"

    /// The two hosts, their agents and the coordinator, over `root`: `shared` (a volume both agents report, and the
    /// lock manager's lockspace) and a local volume per host.
    struct Testbed {
        let root: String
        let hosts: [String: LibvirtHost]
        let port = Daemons.freePort()
        var coordinator: DaemonProcess?
        var agents: [String: DaemonProcess] = [:]
        /// Daemons started so far: restarted ones log to files of their own.
        var starts = 0

        var shared: String { root + "/shared" }
        func local(_ node: String) -> String { root + "/\(node)-local" }
        var environment: [String: String] {
            ["CHAINKEEPER_URL": "http://127.0.0.1:\(port)", "CHAINKEEPER_TOKEN": LibvirtHostsEndToEndTests.adminToken]
        }

        init() throws {
            let root = "/tmp/ck-e2e-libvirt-\(UUID().uuidString.prefix(8))"
            self.root = root
            let manager = FileManager.default
            for directory in [root + "/shared", root + "/a-local", root + "/b-local"] {
                try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            _ = try VolumeMarker(id: "22222222-2222-4222-8222-222222222222", name: "shared").write(
                into: root + "/shared"
            )
            for node in ["a", "b"] {
                _ = try VolumeMarker(id: UUID().uuidString.lowercased(), name: "\(node)-local")
                    .write(into: root + "/\(node)-local")
            }
            var hosts: [String: LibvirtHost] = [:]
            do {
                for (node, address) in [("a", "127.0.0.2"), ("b", "127.0.0.3")] {
                    hosts[node] = try LibvirtHost.start(
                        name: "ck-\(node)",
                        directory: root + "/host-\(node)",
                        address: address,
                        lockspace: root + "/shared/.lockd"
                    )
                }
            } catch {
                for host in hosts.values { host.stop() }
                throw error
            }
            self.hosts = hosts
        }

        mutating func start(
            leaseTTL: String = "6s",
            commandTimeout: String = "30s",
            mergeBandwidth: Int? = nil
        )
            async throws
        {
            try startCoordinator(leaseTTL: leaseTTL, commandTimeout: commandTimeout)
            for _ in 0..<100 where Daemons.httpGet(port: port, path: "/healthz") != "ok\n" {
                try await Task.sleep(for: .milliseconds(100))
            }
            for node in hosts.keys.sorted() { try startAgent(node, mergeBandwidth: mergeBandwidth) }
        }

        /// Starts (or restarts) the coordinator; `environment` reaches the process (fault injection).
        mutating func startCoordinator(
            leaseTTL: String = "6s",
            commandTimeout: String = "30s",
            environment: [String: String] = [:]
        ) throws {
            try """
            listen: "127.0.0.1:\(port)"
            dataDir: \(root)/coordinator
            adminTokens: [\(LibvirtHostsEndToEndTests.adminToken)]
            commandTimeout: \(commandTimeout)
            leaseTTL: \(leaseTTL)
            agentTokens: {a: token-node-a-000000, b: token-node-b-000000}
            """.write(toFile: root + "/coordinator.yaml", atomically: true, encoding: .utf8)
            starts += 1
            coordinator = try DaemonProcess(
                Daemons.chainkeeperd,
                ["coordinator", "--config", root + "/coordinator.yaml"],
                environment: environment,
                logPath: root + "/coordinator\(starts == 1 ? "" : "-\(starts)").log"
            )
        }

        /// Starts (or restarts) `node`'s agent; `environment` reaches the process (fault injection).
        mutating func startAgent(
            _ node: String,
            mergeBandwidth: Int? = nil,
            environment: [String: String] = [:]
        ) throws {
            let host = try #require(hosts[node])
            var inventory: [String: Any] = [
                "driver": "libvirt", "domains": host.domains, "snapshots": host.snapshots, "live": host.live,
                "uri": host.socketURI, "peerURI": host.tcpURI,
                // The shared directory is on no filesystem libvirt recognises as shared.
                "unsafeMigration": true,
            ]
            if let mergeBandwidth { inventory["mergeBandwidth"] = mergeBandwidth }
            let config: [String: Any] = [
                "node": node, "coordinator": "http://127.0.0.1:\(port)", "token": "token-node-\(node)-000000",
                "dataDir": root + "/agent-\(node)", "volumes": [shared, local(node)], "heartbeat": "500ms",
                // Rare rescans: what changes in libvirt reaches the coordinator through the agent's watch.
                "rescan": "120s", "memoryMiB": 4096, "inventory": inventory,
            ]
            let path = root + "/agent-\(node).json"
            if !FileManager.default.fileExists(atPath: path) || mergeBandwidth != nil {
                try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
            }
            starts += 1
            agents[node] = try DaemonProcess(
                Daemons.chainkeeperd,
                ["agent", "--config", path],
                environment: environment,
                logPath: root + "/agent-\(node)\(starts <= 3 ? "" : "-\(starts)").log"
            )
        }

        func stop() {
            for agent in agents.values { agent.stop() }
            coordinator?.stop()
            for node in ["a", "b"] {
                try? "exit\n".write(toFile: root + "/agent-\(node)/watchdog.feed", atomically: true, encoding: .utf8)
            }
            for host in hosts.values { host.stop() }
        }

        func remove() { try? FileManager.default.removeItem(atPath: root) }

        func cli(_ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
            try await Daemons.run(Daemons.chainkeeper, arguments, environment: environment)
        }

        func json<T: Decodable>(_ arguments: [String], as type: T.Type) async throws -> T {
            let result = try await cli(arguments + ["--json"])
            return try JSONDecoder().decode(T.self, from: Data(result.out.utf8))
        }

        /// Polls `vm show` until `done` holds (or `seconds` pass).
        func waitForVM(
            _ name: String,
            seconds: Double = 30,
            until done: (VMDetailJSON) -> Bool
        ) async throws -> VMDetailJSON? {
            let deadline = Date().addingTimeInterval(seconds)
            var last: VMDetailJSON?
            while Date() < deadline {
                if let detail = try? await json(["vm", "show", name], as: VMDetailJSON.self) {
                    last = detail
                    if done(detail) { return detail }
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            return last
        }

        /// Defines and starts `name` on `node` with a qcow2 base on `directory`, then takes `snapshots` external
        /// snapshots (`name-sN.qcow2` overlays in `overlayDirectory(N)`; the second saves memory to
        /// `name-s2.mem`, in `memoryDirectory` when given).
        func domain(
            _ name: String,
            on node: String,
            in directory: String,
            snapshots: Int,
            memoryDirectory: String? = nil,
            overlayDirectory: (Int) -> String? = { _ in nil }
        ) throws -> String {
            let host = try #require(hosts[node])
            let uuid = UUID().uuidString.lowercased()
            try createQcow2(directory + "/\(name)-base.qcow2")
            let xml = root + "/\(name).xml"
            try LibvirtHost.domainXML(name: name, uuid: uuid, disk: directory + "/\(name)-base.qcow2")
                .write(toFile: xml, atomically: true, encoding: .utf8)
            try host.must(["define", xml])
            try host.must(["start", name])
            for index in 1...max(snapshots, 1) where snapshots > 0 {
                let overlay = (overlayDirectory(index) ?? directory) + "/\(name)-s\(index).qcow2"
                var arguments = ["snapshot-create-as", name, "s\(index)", "--diskspec", "vda,file=\(overlay)"]
                if index == 2 {
                    arguments += ["--memspec", "file=\(memoryDirectory ?? directory)/\(name)-s2.mem,snapshot=external"]
                } else {
                    arguments.append("--disk-only")
                }
                try host.must(arguments)
            }
            return uuid
        }
    }

    @Test func aRunningDomainMovesWithItsWholeSnapshotTreeAndFailsOverFromTheCoordinatorsCopy() async throws {
        var bed = try Testbed()
        defer {
            bed.stop()
            if ProcessInfo.processInfo.environment["CHAINKEEPER_KEEP_TESTBED"] == nil { bed.remove() }
        }
        let (a, b) = (try #require(bed.hosts["a"]), try #require(bed.hosts["b"]))
        // web01: three external snapshots on the shared volume, s2 with its memory there too.
        _ = try bed.domain("web01", on: "a", in: bed.shared, snapshots: 3)
        // db01: the same, but s2's overlay on a's local volume.
        _ = try bed.domain("db01", on: "a", in: bed.shared, snapshots: 3) { $0 == 2 ? bed.local("a") : nil }
        // off01: one snapshot; it moves to b with --offline.
        _ = try bed.domain("off01", on: "a", in: bed.shared, snapshots: 1)
        // app01: two snapshots on the shared volume; it fails over when a's agent dies.
        _ = try bed.domain("app01", on: "a", in: bed.shared, snapshots: 2)
        // tmp01: a transient domain on b (`virsh create`: no persistent XML), one external snapshot.
        let tmpUUID = UUID().uuidString.lowercased()
        try createQcow2(bed.shared + "/tmp01-base.qcow2")
        try LibvirtHost.domainXML(name: "tmp01", uuid: tmpUUID, disk: bed.shared + "/tmp01-base.qcow2")
            .write(toFile: bed.root + "/tmp01.xml", atomically: true, encoding: .utf8)
        try b.must(["create", bed.root + "/tmp01.xml"])
        try b.must([
            "snapshot-create-as", "tmp01", "t1", "--disk-only", "--diskspec", "vda,file=\(bed.shared)/tmp01-t1.qcow2",
        ])
        // rev01 on b: an external snapshot, an internal one stored inside its overlay, another external one, then a
        // revert to the internal one: s2's overlay is left behind, named only by s2's XML.
        _ = try bed.domain("rev01", on: "b", in: bed.shared, snapshots: 1)
        try b.must(["snapshot-create-as", "rev01", "i1"])
        try b.must([
            "snapshot-create-as", "rev01", "s2", "--disk-only", "--diskspec", "vda,file=\(bed.shared)/rev01-s2.qcow2",
        ])
        try b.must(["snapshot-revert", "rev01", "i1"])
        // enc01 (defined, shut off): its disk's LUKS passphrase is a libvirt secret that only a defines.
        let secret = "c5ecbdc2-0000-4000-8000-0000000000e1"
        try """
        <secret ephemeral='no' private='yes'><uuid>\(secret)</uuid>\
        <usage type='volume'><volume>\(bed.shared)/enc01-base.qcow2</volume></usage></secret>
        """.write(toFile: bed.root + "/secret.xml", atomically: true, encoding: .utf8)
        try a.must(["secret-define", bed.root + "/secret.xml"])
        try createQcow2(bed.shared + "/enc01-base.qcow2")
        try LibvirtHost.domainXML(
            name: "enc01",
            uuid: UUID().uuidString.lowercased(),
            disk: bed.shared + "/enc01-base.qcow2"
        )
        .replacingOccurrences(
            of: "<target dev='vda' bus='virtio'/>",
            with: "<target dev='vda' bus='virtio'/><encryption format='luks'><secret type='passphrase' "
                + "uuid='\(secret)'/></encryption>"
        ).write(toFile: bed.root + "/enc01.xml", atomically: true, encoding: .utf8)
        try a.must(["define", bed.root + "/enc01.xml"])
        try await bed.start()

        // Every domain is reported with its real files; the coordinator holds web01's metadata.
        let web = try #require(
            try await bed.waitForVM("web01") { $0.hypervisorMetadata?.held == true && $0.owner == "a" }
        )
        #expect(web.hypervisorMetadata?.snapshots == 3)
        #expect(web.snapshots.map(\.name) == ["s1"])
        #expect(
            Set(web.files.map { LocalPathName.last($0.path) })
                == ["web01-base.qcow2", "web01-s1.qcow2", "web01-s2.qcow2", "web01-s3.qcow2", "web01-s2.mem"]
        )
        #expect(web.risks.isEmpty, "\(web.risks)")
        let transient = try #require(try await bed.waitForVM("tmp01") { $0.owner == "b" })
        #expect(transient.state == "Running")
        #expect(Set(transient.files.map { LocalPathName.last($0.path) }) == ["tmp01-base.qcow2", "tmp01-t1.qcow2"])
        let reverted = try #require(try await bed.waitForVM("rev01") { $0.owner == "b" })
        #expect(reverted.files.contains { $0.path == bed.shared + "/rev01-s2.qcow2" }, "\(reverted.files.map(\.path))")
        // A snapshot taken now is in the coordinator within seconds (the agents rescan every two minutes).
        try b.must([
            "snapshot-create-as", "rev01", "s3", "--disk-only", "--diskspec", "vda,file=\(bed.shared)/rev01-s3.qcow2",
        ])
        let taken = try await bed.waitForVM("rev01", seconds: 10) {
            $0.files.contains { $0.path.hasSuffix("rev01-s3.qcow2") }
        }
        #expect(taken?.files.contains { $0.path.hasSuffix("rev01-s3.qcow2") } == true, "no report on libvirt's change")
        let audit = try await bed.json(["audit"], as: AuditResponse.self)
        #expect(
            !audit.risks.contains { $0.code == "orphan-disk" },
            "\(audit.risks.map { "\($0.code) \($0.path ?? "")" })"
        )
        let nodes = try await bed.json(["nodes"], as: [NodeJSON].self)
        #expect(nodes.first { $0.name == "b" }?.memoryUsedMiB == 128, "the transient domain's memory counts")
        #expect(nodes.first { $0.name == "a" }?.memoryUsedMiB == 256)

        // db01 has an overlay on a's local disk: refused, naming it, and nothing changes on either host.
        let dbTreeBefore = try a.snapshotTree("db01")
        let refused = try await bed.cli(["migrate", "db01", "--to", "b", "--json"])
        #expect(refused.status == 3, "\(refused.out) \(refused.err)")
        let refusal = try JSONDecoder().decode(CheckResponse.self, from: Data(refused.out.utf8))
        #expect(refusal.reasons.map(\.code) == ["file-on-local-volume"])
        #expect(refusal.reasons.first?.path == bed.local("a") + "/db01-s2.qcow2")
        #expect(try a.snapshotTree("db01") == dbTreeBefore)
        #expect(try a.must(["domstate", "db01"]).contains("running"))
        #expect(try b.virsh(["dominfo", "db01"]).status != 0)

        // enc01: b's preflight refuses while b lacks the secret (its value never leaves a); once defined there, the
        // shut-off domain moves and stays shut off.
        _ = try #require(try await bed.waitForVM("enc01") { $0.hypervisorMetadata?.held == true })
        let noSecret = try await bed.cli(["migrate", "enc01", "--to", "b", "--json"])
        #expect(noSecret.status == 3, "\(noSecret.out) \(noSecret.err)")
        let secretRefusal = try JSONDecoder().decode(CheckResponse.self, from: Data(noSecret.out.utf8))
        #expect(secretRefusal.reasons.map(\.code) == ["secret-missing"], "\(secretRefusal.reasons)")
        #expect(try b.virsh(["dominfo", "enc01"]).status != 0)
        try b.must(["secret-define", bed.root + "/secret.xml"])
        let withSecret = try await bed.cli(["migrate", "enc01", "--to", "b", "--json"])
        #expect(withSecret.status == 0, "\(withSecret.out) \(withSecret.err)")
        #expect(try b.must(["domstate", "enc01"]).contains("shut off"))
        #expect(try a.virsh(["dominfo", "enc01"]).status != 0)

        // web01 moves to b, live, with its snapshot tree.
        let treeBefore = try a.snapshotTree("web01")
        #expect(treeBefore.parents == ["s1": "", "s2": "s1", "s3": "s2"])
        #expect(treeBefore.current == "s3")
        let moved = try await bed.cli(["migrate", "web01", "--to", "b", "--json"])
        #expect(moved.status == 0, "\(moved.out) \(moved.err)")
        #expect(try b.must(["domstate", "web01"]).contains("running"))
        #expect(try b.snapshotTree("web01") == treeBefore)
        #expect(try a.virsh(["dominfo", "web01"]).status != 0, "a no longer has the domain")
        #expect(!FileManager.default.fileExists(atPath: a.snapshots + "/web01/s1.xml"), "nor its snapshot metadata")
        let history = try await bed.json(["history", "--vm", "web01"], as: [HistoryEntryJSON].self)
        #expect(history.first?.state == "committed")
        #expect(
            history.first?.steps.map(\.state)
                == ["planned", "preflight", "source-released", "target-adopted", "committed"]
        )
        #expect(try await bed.waitForVM("web01") { $0.owner == "b" && $0.hypervisorMetadata?.held == true } != nil)

        // off01 to b with --offline: stopped on a (its state saved beside its disk), restored on b, tree and all.
        let offTree = try a.snapshotTree("off01")
        let offline = try await bed.cli(["migrate", "off01", "--to", "b", "--offline", "--json"])
        #expect(offline.status == 0, "\(offline.out) \(offline.err)")
        #expect(try b.must(["domstate", "off01"]).contains("running"))
        #expect(try b.snapshotTree("off01") == offTree)
        #expect(try a.virsh(["dominfo", "off01"]).status != 0)
        #expect(
            (try FileManager.default.contentsOfDirectory(atPath: bed.shared)).filter { $0.hasSuffix(".save") }.isEmpty,
            "the saved state is removed once restored"
        )
        let offlineHistory = try await bed.json(["history", "--vm", "off01"], as: [HistoryEntryJSON].self)
        #expect(
            offlineHistory.first?.steps.first { $0.state == "source-released" }?.detail?.contains("--offline") == true,
            "\(offlineHistory.first?.steps ?? [])"
        )

        // SIGKILL a's agent: its watchdog destroys a's HA domains through libvirt, and app01 runs on b with its tree,
        // defined from the coordinator's copy.
        let appTree = try a.snapshotTree("app01")
        #expect(bed.agents["a"]?.stop(SIGKILL) == SIGKILL)
        for (name, tree) in [("app01", appTree)] {
            let failed = try await bed.waitForVM(name, seconds: 40) { $0.owner == "b" }
            #expect(failed?.owner == "b", "\(name) did not fail over: \(bed.coordinator?.log.suffix(2000) ?? "")")
            #expect(try a.virsh(["domstate", name]).out.contains("shut off"), "the fence destroyed \(name) on a")
            #expect(try b.must(["domstate", name]).contains("running"))
            #expect(try b.snapshotTree(name) == tree)
        }
        var watchdog = ""
        for _ in 0..<100 where !watchdog.contains("built-in fence") {
            watchdog = (try? String(contentsOfFile: bed.root + "/agent-a/watchdog.log", encoding: .utf8)) ?? ""
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(watchdog.contains("built-in fence succeeded: destroyed app01, db01"), "\(watchdog)")

        // a's agent back: readmitted, it undefines its stale copy of app01 (shut off, owned by b now) with the snapshot
        // metadata, and touches nothing else: db01 (still a's, held) stays defined.
        bed.agents["a"] = try DaemonProcess(
            Daemons.chainkeeperd,
            ["agent", "--config", bed.root + "/agent-a.json"],
            environment: [:],
            logPath: bed.root + "/agent-a-again.log"
        )
        var forgotten = false
        for _ in 0..<150 where !forgotten {
            forgotten = try a.virsh(["dominfo", "app01"]).status != 0
            if !forgotten { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(
            forgotten,
            "a still defines app01: \((try? String(contentsOfFile: bed.root + "/agent-a-again.log", encoding: .utf8))?.suffix(1500) ?? "")"
        )
        #expect(!FileManager.default.fileExists(atPath: a.snapshots + "/app01/s1.xml"))
        #expect(try a.virsh(["dominfo", "db01"]).status == 0)
        #expect(try b.must(["domstate", "app01"]).contains("running"))
    }
}
