import ChainModel
import ClusterAPI
import ClusterStore
import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOFoundationCompat
import Testing

@testable import Coordinator

/// Issue 20, items 1-3 and 7-8: what one broken or hostile agent's report can do, through the real HTTP API.
///
/// Each attack gets its clear error, the coordinator keeps running, and nothing stored is lost.
@Suite struct HostileReportTests {
    typealias Live = LiveCoordinator

    static func errorBody(_ response: TestResponse) throws -> ErrorBody {
        try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body))
    }

    /// Posts node1's report with one VM changed by `change`; returns the answer.
    static func postVM(
        _ change: (inout ReportedVM) -> Void,
        report changeReport: (inout AgentReport) -> Void = { _ in },
        client: some TestClientProtocol
    ) async throws -> TestResponse {
        var vm = Live.vm("web01", node: "node1")
        change(&vm)
        var report = Live.report("node1", vms: [vm], read: ["node1"])
        changeReport(&report)
        return try await Live.post(report, as: Live.agentToken("node1"), client: client)
    }

    /// One out-of-bound value each: the field the answer must name, and how the VM gets it.
    static func hostile(_ field: String, _ index: Int) -> (inout ReportedVM) -> Void {
        switch (field, index) {
        case ("vms[0].memoryMiB", 0): { $0.memoryMiB = Int.max }
        case ("vms[0].memoryMiB", _): { $0.memoryMiB = -1 }
        case ("vms[0].epoch", 0): { $0.epoch = Int64.max }
        case ("vms[0].epoch", _): { $0.epoch = 0 }
        case ("vms[0].files[2].size", _): { $0.files[2].size = Int64.max }
        case ("vms[0].checkpoints[0].created", _): { $0.checkpoints[0].created = Int64.min }
        case ("vms[0].checkpoints", _):
            {
                $0.checkpoints = (0...1_000).map { ReportedCheckpoint(id: "c\($0)", name: "c\($0)") }
            }
        case ("vms[0].name", 0): { $0.name = "" }
        case ("vms[0].name", 1): { $0.name = String(repeating: "n", count: 256) }
        case ("vms[0].name", 2): { $0.name = "web\u{1B}]0;owned\u{07}\u{1B}[2J" }
        case ("vms[0].name", 3): { $0.name = "web01\nlevel=critical forged=line" }
        case ("vms[0].name", 4): { $0.name = "web\u{0}hidden" }
        case ("vms[0].name", _): { $0.name = "evil\u{202E}txt.exe" }
        case ("vms[0].id", _): { $0.id = String(repeating: "i", count: 1_000) }
        default: { $0.checkpoints[0].name = "cp\u{9B}31m" }
        }
    }

    @Test(arguments: [
        ("vms[0].memoryMiB", 0), ("vms[0].memoryMiB", 1), ("vms[0].epoch", 0), ("vms[0].epoch", 1),
        ("vms[0].files[2].size", 0), ("vms[0].checkpoints[0].created", 0), ("vms[0].checkpoints", 0),
        ("vms[0].name", 0), ("vms[0].name", 1), ("vms[0].name", 2), ("vms[0].name", 3), ("vms[0].name", 4),
        ("vms[0].name", 5), ("vms[0].id", 0), ("vms[0].checkpoints[0].name", 0),
    ])
    func aValueOutsideItsBoundIsA400NamingTheFieldAndNothingIsStored(field: String, index: Int) async throws {
        let live = try Live()
        try await live.test { client in
            let response = try await Self.postVM(Self.hostile(field, index), client: client)
            #expect(response.status == .badRequest)
            let body = try Self.errorBody(response)
            #expect(body.error.field == field)
            #expect(body.error.message.contains(field), "\(body.error.message)")
            #expect(!body.error.message.unicodeScalars.contains { NameRule.isForbidden($0) }, "the answer is printable")
            let vms = try Live.json(try await Live.get("/v1/vms", client: client)) as? [Any]
            #expect(vms?.isEmpty == true, "nothing of the refused report was stored")
            #expect(try await Live.get("/healthz", token: nil, client: client).status == .ok)
        }
    }

    @Test func aNodeOfferingAnExtremeAmountOfMemoryIsRefusedToo() async throws {
        let live = try Live()
        try await live.test { client in
            let response = try await Self.postVM({ _ in }, report: { $0.memoryMiB = Int.max }, client: client)
            #expect(response.status == .badRequest)
            #expect(try Self.errorBody(response).error.field == "memoryMiB")
            let volume = try await Self.postVM(
                { _ in },
                report: { $0.volumes[0].name = "csv1\r\nforged" },
                client: client
            )
            #expect(try Self.errorBody(volume).error.field == "volumes[0].name")
        }
    }

    /// Issue 20 item 1: two Running VMs of Int64.max MiB on a node offering as much, already in the database (written
    /// by an older version, or by hand).
    ///
    /// Summing them trapped the failover tick, at every restart. Now every view clamps what it sums, the coordinator
    /// keeps serving, and a restart on the same database reports the values.
    @Test func extremeValuesAlreadyStoredNeitherCrashTheCoordinatorNorStopItsRestart() async throws {
        let live = try Live()
        try await live.test { client async throws in
            for node in Live.nodes {
                let vms = [Live.vm("\(node)-a", node: node), Live.vm("\(node)-b", node: node)]
                let report = Live.report(node, vms: vms, read: Live.nodes)
                #expect(try await Live.post(report, as: Live.agentToken(node), client: client).status == .ok)
            }
        }
        try await live.coordinator.store.writer.write { db in
            try db.execute(sql: "UPDATE vm SET memory_mib = 9223372036854775807")
            try db.execute(sql: "UPDATE node SET memory_mib = 9223372036854775807")
            // Each VM's first file: read back clamped (`StoredInventory`).
            try db.execute(sql: "UPDATE vm_inventory SET body = json_set(body, '$.files[0][6]', 9223372036854775807)")
        }
        #expect(try live.coordinator.store.valuesOutOfBounds().count >= 3)
        // The failover manager's round reads and sums the same view.
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        await live.coordinator.failoverTick(logger: logger)
        let restarted = try Live(directory: live.directory)
        await restarted.coordinator.failoverTick(logger: logger)
        try await restarted.test { client in
            for path in [
                "/v1/whatif?fail=node1", "/v1/nodes", "/v1/audit", "/v1/vms", "/v1/volumes",
                "/v1/vms/node1-a/check?to=node2", "/v1/vms/node1-a",
            ] {
                let response = try await Live.get(path, client: client)
                #expect(response.status == .ok, "\(path): \(String(buffer: response.body))")
            }
            let check = try Live.json(try await Live.get("/v1/vms/node1-a/check?to=node2", client: client))
            let reasons = (check as? [String: Any])?["reasons"] as? [[String: Any]]
            #expect(reasons?.contains { $0["code"] as? String == "insufficient-memory" } == true)
        }
    }

    /// Issue 20 item 3: an epoch at its bound (stored by an older version, or by hand) refuses a migration with
    /// `epoch-exhausted` instead of trapping on `+ 1`.
    @Test func aMigrationOfAVMWhoseEpochIsExhaustedIsRefused() async throws {
        let live = try Live()
        try await live.test { client in
            for node in Live.nodes {
                let vms = node == "node1" ? [Live.vm("web01", node: node)] : []
                let report = Live.report(node, vms: vms, read: Live.nodes)
                #expect(try await Live.post(report, as: Live.agentToken(node), client: client).status == .ok)
            }
            try await live.coordinator.store.writer.write { db in
                try db.execute(sql: "UPDATE vm SET epoch = ?", arguments: [ValueBounds.epoch])
            }
            let response = try await client.execute(
                uri: "/v1/vms/web01/migrate",
                method: .post,
                headers: [.authorization: "Bearer \(Live.adminToken)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"target": "node2"}"#)
            )
            #expect(response.status == .conflict)
            let body = try Self.errorBody(response)
            #expect(body.error.code == "epoch-exhausted")
            #expect(body.error.message.contains("cannot be migrated again"))
            #expect(try await Live.get("/healthz", token: nil, client: client).status == .ok)
            #expect(try live.coordinator.store.vm(id: VMID("web01-id"))?.owner == NodeName("node1"))
        }
    }

    /// Issue 20 item 8: a path that leaves its volume, or holds NUL, makes that VM an inventory error; the rest of
    /// the report lands.
    @Test(arguments: [
        ("web01/../../../etc/shadow", "must not contain '..'"),
        ("/etc/shadow", "must not start with '/'"),
        ("web01/disk\u{0}.vhdx", "control character U+0000"),
        ("", "the path is empty"),
    ])
    func aPathThatLeavesItsVolumeMakesThatVMAnInventoryError(relative: String, says: String) async throws {
        let live = try Live()
        try await live.test { client in
            var bad = Live.vm("bad01", node: "node1")
            bad.files[1].relativePath = relative
            let good = Live.vm("good01", node: "node1")
            let response = try await Live.post(
                Live.report("node1", vms: [bad, good], read: ["node1"]),
                as: Live.agentToken("node1"),
                client: client
            )
            #expect(response.status == .ok)
            let answer = try JSONDecoder().decode(ReportAnswer.self, from: Data(buffer: response.body))
            #expect(answer.registered == 1 && answer.errors == 1)
            let vms = try Live.json(try await Live.get("/v1/vms", client: client)) as? [[String: Any]]
            #expect(vms?.map { $0["name"] as? String } == ["good01"])
            let audit = try JSONDecoder().decode(
                AuditResponse.self,
                from: Data(buffer: try await Live.get("/v1/audit", client: client).body)
            )
            let error = audit.risks.first { $0.code == "inventory-error" && $0.vm == "bad01" }
            #expect(error?.message.contains(says) == true, "\(error?.message ?? "no inventory error")")
        }
    }

    /// Issue 20 item 2: once the cluster knows a VM, a report never changes its owner, epoch or files, whatever epoch
    /// it claims: another node listing it is `registered-on-non-owner`.
    @Test func aReportNeverTakesAnotherNodesVM() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("chainkeeper-coord-\(UUID().uuidString)").path
        // The first coordinator registers the VM; the second starts on a database that knows it (no rebuild).
        let first = try Live(directory: directory)
        try await first.test { client async throws in
            let report = Live.report("node1", vms: [Live.vm("web01", node: "node1")], read: Live.nodes)
            #expect(try await Live.post(report, as: Live.agentToken("node1"), client: client).status == .ok)
        }
        let live = try Live(directory: directory)
        #expect(live.coordinator.ownershipRebuildReason == nil)
        try await live.test { client in
            var stolen = Live.vm("web01", node: "node2", local: 0)
            stolen.epoch = 9_999
            stolen.files[0].path = "/srv/local/stolen.vmcx"
            let response = try await Live.post(
                Live.report("node2", vms: [stolen], read: Live.nodes),
                as: Live.agentToken("node2"),
                client: client
            )
            #expect(response.status == .ok)
            let answer = try JSONDecoder().decode(ReportAnswer.self, from: Data(buffer: response.body))
            #expect(answer.listedOnly == 1)
            let vm = try #require(try live.coordinator.store.vm(id: VMID("web01-id")))
            #expect(vm.owner == NodeName("node1"))
            #expect(vm.ownership.epoch == Epoch(1))
            #expect(!vm.files.contains { $0.path.contains("stolen") }, "the file list is the owner's")
            let audit = try JSONDecoder().decode(
                AuditResponse.self,
                from: Data(buffer: try await Live.get("/v1/audit", client: client).body)
            )
            #expect(audit.risks.contains { $0.code == "registered-on-non-owner" && $0.node == "node2" })
        }
    }

    /// Issue 20 item 8: a volume keeps the name its first reporter gave; another node cannot rename it cluster-wide
    /// (its disagreement is an inventory error); the naming node and an administrator can.
    @Test func onlyTheNamingNodeOrAnAdministratorRenamesAVolume() async throws {
        let live = try Live()
        try await live.test { client in
            func post(_ node: String, name: String) async throws {
                var report = Live.report(node, vms: [], read: Live.nodes)
                report.volumes[0].name = name
                #expect(try await Live.post(report, as: Live.agentToken(node), client: client).status == .ok)
            }
            func csv1Name() async throws -> String? {
                let volumes = try JSONDecoder().decode(
                    [VolumeJSON].self,
                    from: Data(buffer: try await Live.get("/v1/volumes", client: client).body)
                )
                return volumes.first { $0.id == Live.csv1 }?.name
            }
            try await post("node1", name: "csv1")
            try await post("node2", name: "hijacked")
            #expect(try await csv1Name() == "csv1")
            let audit = try JSONDecoder().decode(
                AuditResponse.self,
                from: Data(buffer: try await Live.get("/v1/audit", client: client).body)
            )
            #expect(audit.risks.contains { $0.code == "inventory-error" && $0.message.contains("'hijacked'") })
            try await post("node1", name: "csv-main")
            #expect(try await csv1Name() == "csv-main")
            let renamed = try await client.execute(
                uri: "/v1/volumes/\(Live.csv1)",
                method: .put,
                headers: [.authorization: "Bearer \(Live.adminToken)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"name": "shared-a"}"#)
            )
            #expect(renamed.status == .ok)
            try await post("node1", name: "csv-other")
            #expect(try await csv1Name() == "shared-a", "an administrator's name holds")
            let bad = try await client.execute(
                uri: "/v1/volumes/\(Live.csv1)",
                method: .put,
                headers: [.authorization: "Bearer \(Live.adminToken)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"name": "a\u001bb"}"#)
            )
            #expect(bad.status == .badRequest)
        }
    }

    /// Issue 20 item 8: a node that reports another node's local volume and reads back only its own nonce does not
    /// make that volume shared.
    @Test func aNodesOwnNonceNeverMakesAVolumeShared() async throws {
        let live = try Live()
        try await live.test { client in
            let own = Live.report("node1", vms: [], read: ["node1"])
            #expect(try await Live.post(own, as: Live.agentToken("node1"), client: client).status == .ok)
            var copied = Live.report("node2", vms: [], read: [])
            copied.volumes = [
                ReportedVolume(
                    id: "local-node1",
                    name: "node1-local",
                    mountPath: "/srv/fake",
                    probeWritten: "nonce-fake-node2",
                    probeRead: ["nonce-fake-node2"]
                )
            ]
            #expect(try await Live.post(copied, as: Live.agentToken("node2"), client: client).status == .ok)
            let volumes = try JSONDecoder().decode(
                [VolumeJSON].self,
                from: Data(buffer: try await Live.get("/v1/volumes", client: client).body)
            )
            let local = try #require(volumes.first { $0.id == "local-node1" })
            #expect(local.kind == "local")
            #expect(local.reachableFrom == ["node1"])
        }
    }

    /// Issue 20 item 10: failed authentication from one address is answered 429 with `Retry-After` after a pause,
    /// past the limit; a valid token from the same address still works.
    @Test func repeatedFailedAuthenticationIsThrottledButAValidTokenIsNot() async throws {
        let live = try Live { $0.limits.failedAuthenticationsPerMinute = 5 }
        try await live.test { client in
            for _ in 0..<5 {
                #expect(try await Live.get("/v1/audit", token: "guess", client: client).status == .unauthorized)
            }
            let started = ContinuousClock.now
            let throttled = try await Live.get("/v1/audit", token: "guess", client: client)
            #expect(ContinuousClock.now - started >= .seconds(1), "a throttled guess costs a second")
            #expect(throttled.status == .tooManyRequests)
            #expect(Int(throttled.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(try Self.errorBody(throttled).error.code == "throttled")
            #expect(try await Live.get("/v1/audit", client: client).status == .ok)
        }
    }

    @Test func theExampleConfigsPublishedTokensAreWarnedAbout() throws {
        let published = try CoordinatorConfig.parse(
            #"{"dataDir": "/tmp/x", "adminTokens": ["change-me-admin-token"], "agentTokens": {"n1": "secret"}}"#,
            source: "test.json",
            environment: [:]
        )
        #expect(published.warnings.contains { $0.contains("adminTokens, agentTokens.n1") })
        let own = try CoordinatorConfig.parse(
            #"{"dataDir": "/tmp/x", "adminTokens": ["9f2c4e0d1b7a"], "agentTokens": {"n1": "5e8d7c6b4a3f"}}"#,
            source: "test.json",
            environment: [:]
        )
        #expect(own.warnings.isEmpty, "\(own.warnings)")
    }

    @Test func limitsAndAgentListenAreReadAndCheckedFromTheConfig() throws {
        let parsed = try CoordinatorConfig.parse(
            """
            {"dataDir": "/tmp/x", "adminTokens": ["a1b2c3"], "agentListen": "10.0.0.5:7401",
             "limits": {"connections": 100, "connectionsPerAddress": 10, "idleTimeout": "5s", "adminWorkers": 3,
                        "surprise": 1}}
            """,
            source: "test.json",
            environment: ["CHAINKEEPERD_AGENT_LISTEN": "127.0.0.1:7411"]
        )
        #expect(parsed.config.agentListen == .init(host: "127.0.0.1", port: 7411), "the environment wins")
        #expect(parsed.config.limits.connections == 100 && parsed.config.limits.connectionsPerAddress == 10)
        #expect(parsed.config.limits.idleTimeout == .seconds(5) && parsed.config.limits.adminWorkers == 3)
        #expect(parsed.config.limits.bodyTimeout == ServerLimits().bodyTimeout)
        #expect(parsed.warnings.contains("unknown key 'limits.surprise' in test.json ignored"))
        for limits in [#"{"connections": -1}"#, #"{"idleTimeout": "99999999999h"}"#, #"{"bodyTimeout": "100ms"}"#] {
            #expect(throws: ConfigError.self) {
                try CoordinatorConfig.parse(
                    #"{"dataDir": "/tmp/x", "limits": "# + limits + "}",
                    source: "test.json",
                    environment: [:]
                )
            }
        }
    }
}
