import ConfigFile
import Coordinator
import Foundation
import Testing

@Suite struct ConfigTests {
    static var exampleConfig: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("deploy/examples/coordinator.yaml").path
    }

    /// The one warning an example config gives: its tokens are published.
    static func onlyThePublishedTokenWarning(_ warnings: [String]) -> Bool {
        warnings.count == 1 && warnings[0].contains("published in the example configs")
    }

    @Test func theDeployedExampleParsesWithEveryKey() throws {
        let (config, warnings) = try CoordinatorConfig.load(path: Self.exampleConfig, environment: [:])
        #expect(Self.onlyThePublishedTokenWarning(warnings), "\(warnings)")
        #expect(config.limits == ServerLimits(), "the example spells out the defaults")
        #expect(config.agentListen == nil)
        #expect(config.listenHost == "127.0.0.1")
        #expect(config.listenPort == 7400)
        #expect(config.agentTokens["node3"]?.count == 2, "a list of tokens during rotation")
        #expect(config.agentTokens["node1"] == ["change-me-node1-token"])
        #expect(config.inventoryMaxAge == .seconds(300))
        #expect(config.leaseTTL == .seconds(10))
        #expect(config.fenceCommand == #"/usr/local/sbin/fence-node "$CHAINKEEPER_NODE""#)
        #expect(config.fenceTimeout == .seconds(60))
        #expect(config.failoverEnabled)
        #expect(config.failoverConcurrency == 32)
        #expect(config.commandTimeout == .seconds(90))
        #expect(config.quarantineThreshold == 3)
        #expect(config.maxChainDepth == 32)
        #expect(config.minFreeSpacePercent == 5)
        let percent = try CoordinatorConfig.load(
            path: Self.exampleConfig,
            environment: ["CHAINKEEPERD_MIN_FREE_SPACE": "12.5%"]
        )
        #expect(percent.config.minFreeSpacePercent == 12.5)
        let shallow = #expect(throws: ConfigError.self) {
            _ = try CoordinatorConfig.load(path: Self.exampleConfig, environment: ["CHAINKEEPERD_MAX_CHAIN_DEPTH": "0"])
        }
        #expect(shallow?.message.contains("maxChainDepth must be a number of disks from 1 to") == true)
        let bad = #expect(throws: ConfigError.self) {
            _ = try CoordinatorConfig.load(
                path: Self.exampleConfig,
                environment: ["CHAINKEEPERD_QUARANTINE_THRESHOLD": "0"]
            )
        }
        #expect(bad?.message.contains("quarantineThreshold must be a number of times from 1 to 1000") == true)
    }

    @Test func theTLSExampleParses() throws {
        let path = URL(fileURLWithPath: Self.exampleConfig).deletingLastPathComponent()
            .appendingPathComponent("coordinator-tls.yaml").path
        let (config, warnings) = try CoordinatorConfig.load(path: path, environment: [:])
        #expect(Self.onlyThePublishedTokenWarning(warnings), "\(warnings)")
        #expect(config.tls?.clientCA == "/etc/chainkeeper/ca/ca.crt")
        #expect(config.adminTokens.first?.hasPrefix("sha256:") == true)
        #expect(AccessControl(config).identify(token: "secret") == .admin, "the example's digest is of 'secret'")
    }

    @Test func theEtcdExampleParsesAndBadStoresAreClearErrors() throws {
        let path = URL(fileURLWithPath: Self.exampleConfig).deletingLastPathComponent()
            .appendingPathComponent("coordinator-etcd.yaml").path
        let (config, warnings) = try CoordinatorConfig.load(path: path, environment: [:])
        #expect(Self.onlyThePublishedTokenWarning(warnings), "\(warnings)")
        #expect(
            config.store
                == .etcd(
                    endpoints: ["http://etcd1.example:2379", "http://etcd2.example:2379", "http://etcd3.example:2379"],
                    prefix: "chainkeeper/"
                )
        )
        #expect(config.leaderLeaseTTL == .seconds(5) && config.leaseTTL == .seconds(15))
        #expect(config.advertisedURL == "http://coordinator1.example:7400")
        let overridden = try CoordinatorConfig.load(
            path: path,
            environment: ["CHAINKEEPERD_LEADER_LEASE_TTL": "3s", "CHAINKEEPERD_ADVERTISE": "https://c2:7400/"]
        ).config
        #expect(overridden.leaderLeaseTTL == .seconds(3) && overridden.advertisedURL == "https://c2:7400")

        // The SPEC's defaults (leaseTTL 10s, leaderLeaseTTL 3s) pass the takeover check.
        let defaults = try CoordinatorConfig.parse(
            "dataDir: /x\nstore: {backend: etcd, endpoints: [http://e1:2379]}",
            source: "c",
            environment: ["CHAINKEEPERD_ISOLATION_TIMEOUT": "45s"]
        ).config
        #expect(defaults.leaderLeaseTTL == .seconds(3) && defaults.leaseTTL == .seconds(10))
        #expect(defaults.leadershipLease == .seconds(3), "on etcd the leader lease is leaderLeaseTTL")
        #expect(defaults.isolationTimeout == .seconds(45) && defaults.storageLossTimeout == .seconds(60))
        let embedded = try CoordinatorConfig.parse("dataDir: /x\nlisten: 10.0.0.5:7401", source: "c", environment: [:])
        #expect(embedded.config.store == .sqlite, "the embedded default")
        // The embedded database's own lease is not cut to the etcd default (a renewal can wait behind a large report).
        #expect(embedded.config.leadershipLease == .seconds(10))
        #expect(embedded.config.advertisedURL == "http://10.0.0.5:7401")
        for (text, message) in [
            ("store: {backend: zookeeper}", "store.backend must be sqlite or etcd"),
            ("store: {backend: etcd}", "store.endpoints must list"),
            ("store: {backend: etcd, endpoints: [etcd1:2379]}", "is not an http:// or https:// URL"),
            ("store: etcd", "store must be {backend: sqlite}"),
            ("leaderLeaseTTL: soon", "leaderLeaseTTL must be a duration"),
            ("advertise: c1:7400", "advertise must be an http:// or https:// URL"),
            // A short agent lease would let agents that share no volume fence themselves during a takeover.
            (
                "leaseTTL: 5s\nstore: {backend: etcd, endpoints: [http://e1:2379]}",
                "leaderLeaseTTL (3s) plus 1s must be at most 0.4 × leaseTTL (5s)"
            ),
            ("isolationTimeout: 0s", "isolationTimeout must be a duration"),
            ("failover: {concurrency: 0}", "failover.concurrency must be a number of failovers from 1 to 1024"),
            ("failover: {concurrency: 5000}", "failover.concurrency must be a number of failovers from 1 to 1024"),
            ("failover: {concurrency: many}", "failover must be {enabled: true|false, concurrency: 1-1024}"),
            ("storageLossTimeout: 2d", "storageLossTimeout must be at most 24h"),
            (
                "leaseTTL: 20s\nleaderLeaseTTL: 8s\nstore: {backend: etcd, endpoints: [http://e1:2379]}",
                "Set leaderLeaseTTL to 7s or less, or leaseTTL to 23s or more"
            ),
        ] {
            #expect(throws: ConfigError.self, "\(text)") {
                try CoordinatorConfig.parse("dataDir: /x\n" + text, source: "c.yaml", environment: [:])
            }
            do {
                _ = try CoordinatorConfig.parse("dataDir: /x\n" + text, source: "c.yaml", environment: [:])
            } catch {
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }

    @Test func failoverCanBeTurnedOffAndFenceIsOptional() throws {
        let (config, _) = try CoordinatorConfig.parse(
            "dataDir: /x\nfailover: {enabled: false}",
            source: "c.yaml",
            environment: [:]
        )
        #expect(!config.failoverEnabled)
        #expect(config.fenceCommand == nil)
        #expect(config.failoverConcurrency == 32, "the default")
        let bounded = try CoordinatorConfig.parse(
            "dataDir: /x\nfailover: {concurrency: 4}",
            source: "c",
            environment: [:]
        )
        #expect(bounded.config.failoverEnabled && bounded.config.failoverConcurrency == 4)
    }

    @Test func jsonIsValidYAMLAndEnvironmentOverridesScalars() throws {
        let json = #"{"dataDir": "/tmp/x", "listen": "0.0.0.0:9000", "leaseTTL": "3s", "extra": true}"#
        let (config, warnings) = try CoordinatorConfig.parse(
            json,
            source: "test.json",
            environment: ["CHAINKEEPERD_LEASE_TTL": "500ms", "CHAINKEEPERD_LISTEN": "127.0.0.1:7401"]
        )
        #expect(config.leaseTTL == .milliseconds(500))
        #expect(config.listenPort == 7401)
        #expect(warnings.contains("unknown key 'extra' in test.json ignored"))
        #expect(warnings.contains { $0.contains("no adminTokens") })
    }

    @Test func adminTokensAndTheFenceCommandCanBeOverriddenOrTheFenceRemoved() throws {
        let (replaced, _) = try CoordinatorConfig.load(
            path: Self.exampleConfig,
            environment: ["CHAINKEEPERD_ADMIN_TOKENS": "one, two", "CHAINKEEPERD_FENCE_COMMAND": "ipmitool off"]
        )
        #expect(replaced.adminTokens == ["one", "two"])
        #expect(replaced.fenceCommand == "ipmitool off")
        #expect(replaced.fenceTimeout == .seconds(60), "the example's timeout stays")
        let (removed, _) = try CoordinatorConfig.load(
            path: Self.exampleConfig,
            environment: ["CHAINKEEPERD_FENCE_COMMAND": ""]
        )
        #expect(removed.fenceCommand == nil)
    }

    @Test(arguments: [
        ("listen: nowhere\ndataDir: /x", "listen must be host:port"),
        ("dataDir: /x\nleaseTTL: soon", "leaseTTL must be a duration"),
        ("listen: 1.2.3.4:70000\ndataDir: /x", "listen must be host:port"),
        ("dataDir: /x\nagentTokens: [a, b]", "agentTokens must map node names"),
        ("leaseTTL: 10s", "dataDir is required"),
        ("- just\n- a list", "is not a map"),
        ("dataDir: [unclosed", "not valid YAML"),
        ("dataDir: /x\nfence: /bin/true", "fence must be {command"),
        ("dataDir: /x\nfence: {command: /bin/true, timeout: never}", "fence.timeout must be a duration"),
        ("dataDir: /x\nfailover: {enabled: maybe}", "failover.enabled must be true or false"),
        ("dataDir: /x\ntls: {certificate: /c}", "tls must be {certificate: FILE, key: FILE, clientCA: FILE}"),
        ("dataDir: /x\nadminTokens: [\"sha256:abc\"]", "a sha256: token must be 64 hex digits"),
    ])
    func badValuesAreClearErrors(text: String, expected: String) {
        #expect {
            try CoordinatorConfig.parse(text, source: "c.yaml", environment: [:])
        } throws: { error in
            (error as? ConfigError)?.message.contains(expected) == true
        }
    }
}
