import ClusterAPI
import ClusterTestSupport
import Foundation
import Testing

extension ClusterEndToEndTests {
    /// Issue 7: node c reads its VMs from libvirt domain and snapshot XML beside two `hyperv-json` nodes; the same
    /// strand rule holds, and a move across drivers is refused.
    @Test func aLibvirtNodeBesideTwoHyperVNodes() async throws {
        let layout = try ClusterLayout()
        defer { layout.remove() }
        for (node, vms) in try layout.buildScenario() {
            if node == "c" {
                try layout.writeLibvirt(node, vms)
                try layout.writeInventory(node, [])
            } else {
                try layout.writeInventory(node, vms)
            }
        }
        var cluster = try Cluster(layout: layout, libvirtNodes: ["c"])
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents()
        let audit = try #require(
            try await cluster.waitForAudit { audit in
                Set(audit.risks.compactMap(\.vm)) == Self.risky && audit.risks.allSatisfy { $0.vm != nil }
            }
        )
        // midlocal (libvirt, a checkpoint disk on c's local volume) is stranded exactly as under hyperv-json.
        let midlocal = audit.risks.filter { $0.vm == "midlocal" }
        #expect(midlocal.map(\.code) == ["file-on-local-volume"])
        #expect(midlocal.first?.path == layout.local("c") + "/midlocal/mid.avhdx")

        let nodes = try await cluster.json(["nodes"], as: [NodeJSON].self)
        #expect(nodes.map(\.driver) == ["hyperv-json", "hyperv-json", "libvirt"])
        let safe = try await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self)
        #expect(safe.owner == "c")
        #expect(safe.snapshots.map(\.name) == ["cp0"])
        #expect(
            Set(safe.files.map { LocalPathName.last($0.path) })
                == ["base.vhdx", "cp1.avhdx", "cur.avhdx", "cp1.vmrs"],
            "the chain from the headers and the external memory file; no configuration file"
        )
        // Between drivers: refused with hypervisor-mismatch, and nothing else wrong.
        let across = try await cluster.cli(["check", "safe01", "--to", "a", "--json"])
        #expect(across.status == 3)
        let verdict = try JSONDecoder().decode(CheckResponse.self, from: Data(across.out.utf8))
        #expect(verdict.reasons.map(\.code) == ["hypervisor-mismatch"])
    }
}
