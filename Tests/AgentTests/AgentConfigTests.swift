import AgentService
import ConfigFile
import Foundation
import Testing

@Suite struct AgentConfigTests {
    static var exampleConfig: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/examples/agent.yaml").path
    }

    static let yaml = """
        node: node1
        coordinator: [http://10.0.0.1:7400, http://10.0.0.2:7400]
        token: secret-token
        dataDir: /var/lib/chainkeeper
        volumes: [/mnt/csv, /srv/local]
        inventory: {driver: hyperv-json, path: /var/lib/chainkeeper/hyperv.json}
        heartbeat: 500ms
        rescan: 30s
        memoryMiB: 131072
        pathMap: {'C:\\ClusterStorage\\Volume1': /mnt/csv/volume1}
        hooks: {release: /usr/local/bin/release}
        colour: blue
        """

    @Test func readsEveryKeyAndReportsUnknownAndUnusedOnes() throws {
        let (config, warnings) = try AgentConfig.parse(Self.yaml, source: "agent.yaml", environment: [:])
        #expect(config.node == "node1")
        #expect(config.coordinators == ["http://10.0.0.1:7400", "http://10.0.0.2:7400"])
        #expect(config.token == "secret-token")
        #expect(config.volumes == ["/mnt/csv", "/srv/local"])
        #expect(config.inventoryPath == "/var/lib/chainkeeper/hyperv.json")
        #expect(config.heartbeat == .milliseconds(500))
        #expect(config.rescan == .seconds(30))
        #expect(config.memoryMiB == 131072)
        #expect(config.pathMap == ["C:\\ClusterStorage\\Volume1": "/mnt/csv/volume1"])
        #expect(warnings.contains("unknown key 'colour' in agent.yaml ignored"))
        #expect(config.hooks == ["release": "/usr/local/bin/release"])
        #expect(!warnings.contains { $0.contains("hooks") })
    }

    @Test func jsonWorksAndEnvironmentOverridesScalars() throws {
        let json = """
            {"node": "n1", "dataDir": "/d", "volumes": ["/v"], "inventory": {"driver": "hyperv-json", "path": "/i.json"}, "token": "t"}
            """
        let (config, _) = try AgentConfig.parse(
            json,
            source: "agent.json",
            environment: [
                "CHAINKEEPERD_NODE": "n2", "CHAINKEEPERD_COORDINATOR": "http://a:1, http://b:2",
                "CHAINKEEPERD_RESCAN": "5s", "CHAINKEEPERD_MEMORY_MIB": "1024",
            ]
        )
        #expect(config.node == "n2")
        #expect(config.coordinators == ["http://a:1", "http://b:2"])
        #expect(config.rescan == .seconds(5))
        #expect(config.memoryMiB == 1024)
        #expect(config.heartbeat == .seconds(2), "SPEC default")
    }

    @Test func listsAndNestedKeysHaveOverridesTooSoOneExampleServesSeveralNodes() throws {
        let (config, _) = try AgentConfig.load(
            path: Self.exampleConfig,
            environment: [
                "CHAINKEEPERD_VOLUMES": "/srv/csv1, /srv/node2-local", "CHAINKEEPERD_INVENTORY_PATH": "/srv/node2.json",
                "CHAINKEEPERD_HOOK_ADOPT": "adopt-it", "CHAINKEEPERD_HOOK_FENCE": "fence-it",
            ]
        )
        #expect(config.volumes == ["/srv/csv1", "/srv/node2-local"])
        #expect(config.inventory == .hypervJSON(path: "/srv/node2.json"))
        #expect(config.hooks["adopt"] == "adopt-it" && config.hooks["fence"] == "fence-it")
        #expect(config.hooks["release"] == "/usr/local/lib/chainkeeper/release-vm", "the example's hook stays")
    }

    @Test func withTLSTheNodeCertificateReplacesTheToken() throws {
        let (config, warnings) = try AgentConfig.parse(
            """
            node: n
            dataDir: /d
            volumes: [/v]
            coordinator: https://coordinator.example:7400
            inventory: {driver: hyperv-json, path: /i}
            tls: {ca: /etc/chainkeeper/ca.crt, certificate: /etc/chainkeeper/n.crt, key: /etc/chainkeeper/n.key}
            """,
            source: "agent.yaml",
            environment: [:]
        )
        #expect(warnings.isEmpty, "\(warnings)")
        #expect(config.token == nil)
        #expect(
            config.tls
                == AgentConfig.TLSFiles(
                    ca: "/etc/chainkeeper/ca.crt",
                    certificate: "/etc/chainkeeper/n.crt",
                    key: "/etc/chainkeeper/n.key"
                )
        )
    }

    @Test func theLibvirtDriverDefaultsToLibvirtsOwnDirectories() throws {
        let (defaults, _) = try AgentConfig.parse(
            "node: n\ndataDir: /d\nvolumes: [/v]\ninventory: {driver: libvirt}\ntoken: t",
            source: "agent.yaml",
            environment: [:]
        )
        #expect(
            defaults.inventory
                == .libvirt(
                    domains: "/etc/libvirt/qemu",
                    snapshots: "/var/lib/libvirt/qemu/snapshot",
                    stateCommand: nil
                )
        )
        #expect(defaults.inventoryPath == nil)
        let (custom, _) = try AgentConfig.parse(
            """
            node: n
            dataDir: /d
            volumes: [/v]
            token: t
            sharedSources: ["rbd:vms/"]
            inventory: {driver: libvirt, domains: /srv/qemu, snapshots: /srv/snap, stateCommand: "virsh domstate {name}",
                        live: /srv/run}
            """,
            source: "agent.yaml",
            environment: [:]
        )
        #expect(
            custom.inventory
                == .libvirt(
                    domains: "/srv/qemu",
                    snapshots: "/srv/snap",
                    stateCommand: "virsh domstate {name}",
                    live: "/srv/run"
                )
        )
        #expect(custom.sharedSources == ["rbd:vms/"])
    }

    @Test(arguments: [
        ("dataDir: /d\nvolumes: [/v]\ninventory: {driver: hyperv-json, path: /i}", "node"),
        ("node: n\ndataDir: /d\nvolumes: [/v]\ninventory: {driver: hyperv-json, path: /i}\nrescan: soon", "rescan"),
        ("node: n\ndataDir: /d\nvolumes: [/v]\ninventory: {driver: vmware}", "inventory driver 'vmware' is unknown"),
        (
            "node: n\ndataDir: /d\nvolumes: [/v]\ninventory: {driver: hyperv-json, path: /i}\ncoordinator: ftp://x",
            "ftp://x"
        ),
        (
            "node: n\ndataDir: /d\nvolumes: [/v]\ninventory: {driver: hyperv-json, path: /i}\nmemoryMiB: lots",
            "memoryMiB"
        ),
        ("node: n\ndataDir: /d\ninventory: {driver: hyperv-json, path: /i}", "volumes"),
        ("[1, 2]", "not a map"),
        (
            "node: n\ndataDir: /d\nvolumes: [/v]\ninventory: {driver: hyperv-json, path: /i}",
            "token is required unless tls gives this node a client certificate"
        ),
        (
            "node: n\ndataDir: /d\nvolumes: [/v]\ninventory: {driver: hyperv-json, path: /i}\n"
                + "tls: {ca: /ca.crt, certificate: /n.crt, key: /n.key}",
            "every coordinator URL must be https://"
        ),
        ("node: [unclosed", "not valid YAML"),
    ])
    func aBadValueIsAClearErrorNamingTheKey(text: String, mentioned: String) {
        #expect {
            _ = try AgentConfig.parse(text, source: "agent.yaml", environment: [:])
        } throws: { error in
            (error as? AgentConfigError)?.message.contains(mentioned) == true
        }
    }
}

@Suite struct DeployedAgentConfigTests {
    @Test func theExampleInDeployLoadsWithoutWarnings() throws {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
            directory = directory.deletingLastPathComponent()
        }
        let (config, warnings) = try AgentConfig.load(
            path: directory.appendingPathComponent("deploy/examples/agent.yaml").path,
            environment: [:]
        )
        #expect(warnings.isEmpty)
        #expect(config.node == "node1")
        #expect(config.rescan == .seconds(60))
        #expect(config.pathMap["C:\\ClusterStorage\\Volume1"] == "/mnt/csv/volume1")
        #expect(config.hooks["fence"] == "/usr/local/lib/chainkeeper/stop-ha-vms")
        let (tls, tlsWarnings) = try AgentConfig.load(
            path: directory.appendingPathComponent("deploy/examples/agent-tls.yaml").path,
            environment: [:]
        )
        #expect(tlsWarnings.isEmpty)
        #expect(tls.tls?.certificate == "/etc/chainkeeper/tls/node1.crt")
        #expect(config.watchdogTimeout == .seconds(5))
    }
}
