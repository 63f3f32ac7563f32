import ClusterAPI
import ClusterTestSupport
import DiskAccess
import DiskFormats
import Foundation
import Testing

@testable import Agent

/// The `libvirt` driver over a libvirt-style tree: domain and snapshot XML to libvirt's schema, qcow2 chains made by
/// `qemu-img create -b` (an independent writer), external memory files; read through `NodeScanner` exactly as the agent
/// does.
@Suite struct LibvirtInventoryTests {
    struct Tree {
        let root: String
        var shared: String { root + "/shared" }
        var local: String { root + "/local" }
        var domains: String { root + "/etc-libvirt-qemu" }
        var snapshots: String { root + "/snapshot" }
        /// libvirt's live state directory (`/run/libvirt/qemu` on a host).
        var live: String { root + "/run-libvirt-qemu" }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("ck-libvirt-\(UUID().uuidString)").path
            for directory in [shared, local] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            _ = try VolumeMarker(id: "22222222-2222-4222-8222-222222222222", name: "shared").write(into: shared)
            _ = try VolumeMarker(id: "33333333-3333-4333-8333-333333333333", name: "local").write(into: local)
        }

        func remove() { try? FileManager.default.removeItem(atPath: root) }

        /// `qemu-img create -f qcow2 [-b BACKING -F qcow2] PATH 16M`; a missing tool fails the test loudly.
        func qcow2(_ path: String, backing: String? = nil) throws {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true
            )
            let tool = "/usr/bin/qemu-img"
            guard FileManager.default.isExecutableFile(atPath: tool) else {
                throw ToolMissing(description: "qemu-img is missing: install qemu-utils (scripts/test does)")
            }
            var arguments = ["create", "-q", "-f", "qcow2"]
            if let backing { arguments += ["-b", backing, "-F", "qcow2"] }
            let result = try Daemons.runBlocking(tool, arguments + [path, "16M"], environment: [:])
            guard result.status == 0 else { throw ToolMissing(description: "qemu-img failed: \(result.err)") }
        }

        func touch(_ path: String) throws {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true
            )
            _ = FileManager.default.createFile(atPath: path, contents: Data(count: 8192))
        }

        func scan(sharedSources: [String] = [], stateCommand: String? = "echo 'shut off'") -> AgentReport {
            NodeScanner(
                node: "kvm-node",
                volumeDirectories: [shared, local],
                inventory: LibvirtSource(
                    domains: domains,
                    snapshots: snapshots,
                    stateCommand: stateCommand,
                    live: live,
                    swtpm: root + "/swtpm"
                ),
                pathMap: PathMap(),
                memoryMiB: 65536,
                sharedSources: sharedSources
            ).report(
                volumes: NodeScanner(
                    node: "kvm-node",
                    volumeDirectories: [shared, local],
                    inventoryPath: "/nonexistent",
                    pathMap: PathMap(),
                    memoryMiB: nil
                ).volumes(),
                newNonces: [:],
                fileSystem: LocalFileSystem()
            ).report
        }
    }

    struct ToolMissing: Error, CustomStringConvertible { var description: String }

    @Test func aBranchedSnapshotTreeWithExternalMemoryIsReadFromXMLAndHeaders() throws {
        let tree = try Tree()
        defer { tree.remove() }
        let dir = tree.shared + "/kvm1"
        try tree.qcow2(dir + "/base.qcow2")
        try tree.qcow2(dir + "/ov1.qcow2", backing: dir + "/base.qcow2")
        try tree.qcow2(dir + "/ov2.qcow2", backing: dir + "/ov1.qcow2")
        try tree.qcow2(dir + "/ov3.qcow2", backing: dir + "/ov1.qcow2")
        try tree.touch(dir + "/s1.mem")
        try tree.touch(tree.local + "/kvm1/s2.mem")
        let uuid = "5c1f7a52-8f0e-4d3b-9a61-1f2e3d4c5b6a"
        try LibvirtFixtures.write(
            name: "kvm1",
            uuid: uuid.uppercased(),
            memoryKiB: 4_194_304,
            disks: [.file(dir + "/ov3.qcow2", target: "vda")],
            snapshots: [
                .init(
                    name: "s1",
                    parent: nil,
                    memoryFile: dir + "/s1.mem",
                    overlays: ["vda": dir + "/ov1.qcow2"],
                    capturedDisks: [.file(dir + "/base.qcow2", target: "vda")]
                ),
                .init(
                    name: "s2",
                    parent: "s1",
                    memoryFile: tree.local + "/kvm1/s2.mem",
                    overlays: ["vda": dir + "/ov2.qcow2"],
                    capturedDisks: [.file(dir + "/ov1.qcow2", target: "vda")]
                ),
                // A branch: reverted to s1, then snapshotted again.
                .init(
                    name: "s3",
                    parent: "s1",
                    memoryFile: nil,
                    overlays: ["vda": dir + "/ov3.qcow2"],
                    capturedDisks: [.file(dir + "/ov1.qcow2", target: "vda")]
                ),
            ],
            domains: tree.domains,
            snapshotRoot: tree.snapshots
        )
        let report = tree.scan()
        #expect(report.driver == "libvirt")
        #expect(report.inventoryErrors.isEmpty, "\(report.inventoryErrors)")
        let vm = try #require(report.vms.first)
        #expect(vm.id == uuid, "the uuid, lowercased")
        #expect(vm.name == "kvm1")
        #expect(vm.memoryMiB == 4096)
        #expect(vm.state == "Off", "from stateCommand")
        #expect(vm.highlyAvailable)
        #expect(vm.checkpoints.map(\.name) == ["s1", "s2", "s3"])
        #expect(vm.checkpoints.map(\.parentId) == [nil, "s1", "s1"])
        #expect(vm.checkpoints.first?.created == 1_790_000_000_000)
        // The current disk's chain comes from the qcow2 headers: ov3 → ov1 → base.
        let current = try #require(
            vm.chains.first { $0.checkpointId == nil && vm.files[$0.files[0]].path.hasSuffix("ov3.qcow2") }
        )
        #expect(
            current.files.map { (vm.files[$0].path as NSString).lastPathComponent } == [
                "ov3.qcow2", "ov1.qcow2", "base.qcow2",
            ]
        )
        #expect(current.files.allSatisfy { vm.files[$0].format == "qcow2" && vm.files[$0].problem == nil })
        let memory = vm.files.filter { $0.kind == "memory" }
        #expect(memory.map { ($0.path as NSString).lastPathComponent }.sorted() == ["s1.mem", "s2.mem"])
        #expect(memory.first { $0.path.hasSuffix("s2.mem") }?.volumeId == "33333333-3333-4333-8333-333333333333")
        // The domain XML and snapshot XML are not part of the file set (they are redefined on the target).
        #expect(!vm.files.contains { $0.kind == "configuration" })
        // ov2, the branch left behind by the revert to s1, is named by s2's XML: part of the file set (issue 23: a file
        // a snapshot names is never an orphan), its chain walked to the base.
        let branch = try #require(vm.chains.first { vm.files[$0.files[0]].path.hasSuffix("ov2.qcow2") })
        #expect(
            branch.files.map { (vm.files[$0].path as NSString).lastPathComponent } == [
                "ov2.qcow2", "ov1.qcow2", "base.qcow2",
            ]
        )
        #expect(vm.chains.count == 5, "current, the leftover branch and the three snapshots' captured disks")
    }

    @Test func aMovedBackingFileAndAnOverlayTheXMLContradictsAreCaught() throws {
        let tree = try Tree()
        defer { tree.remove() }
        // kvm2: its overlay's backing file was moved away after the overlay was made.
        let moved = tree.shared + "/kvm2"
        try tree.qcow2(moved + "/old-base.qcow2")
        try tree.qcow2(moved + "/current.qcow2", backing: moved + "/old-base.qcow2")
        try FileManager.default.moveItem(atPath: moved + "/old-base.qcow2", toPath: moved + "/archive-base.qcow2")
        try LibvirtFixtures.write(
            name: "kvm2",
            uuid: "11111111-0000-4000-8000-000000000002",
            disks: [.file(moved + "/current.qcow2", target: "vda")],
            snapshots: [],
            domains: tree.domains,
            snapshotRoot: tree.snapshots
        )
        // kvm3: the snapshot XML says ov's backing is a.qcow2; ov's header says b.qcow2.
        let lying = tree.shared + "/kvm3"
        try tree.qcow2(lying + "/a.qcow2")
        try tree.qcow2(lying + "/b.qcow2")
        try tree.qcow2(lying + "/ov.qcow2", backing: lying + "/b.qcow2")
        try LibvirtFixtures.write(
            name: "kvm3",
            uuid: "11111111-0000-4000-8000-000000000003",
            disks: [.file(lying + "/ov.qcow2", target: "vda")],
            snapshots: [
                .init(
                    name: "s1",
                    parent: nil,
                    memoryFile: nil,
                    overlays: ["vda": lying + "/ov.qcow2"],
                    capturedDisks: [.file(lying + "/a.qcow2", target: "vda")]
                )
            ],
            domains: tree.domains,
            snapshotRoot: tree.snapshots
        )
        let report = tree.scan()
        let kvm2 = try #require(report.vms.first { $0.name == "kvm2" })
        // The overlay is there; the file its header names is not: file-missing, naming the old path.
        let missing = try #require(kvm2.files.first { $0.problem == "file-missing" })
        #expect(missing.path == moved + "/current.qcow2")
        #expect(missing.problemDetail?.contains(moved + "/old-base.qcow2") == true, "\(missing.problemDetail ?? "")")
        let kvm3 = try #require(report.vms.first { $0.name == "kvm3" })
        let broken = try #require(kvm3.files.first { $0.path == lying + "/ov.qcow2" })
        #expect(broken.problem == "chain-broken")
        #expect(broken.problemDetail?.contains("a.qcow2") == true && broken.problemDetail?.contains("b.qcow2") == true)
    }

    @Test func malformedXMLAndAMissingParentAreErrorsForThatVMOnly() throws {
        let tree = try Tree()
        defer { tree.remove() }
        try tree.qcow2(tree.shared + "/good/disk.qcow2")
        try LibvirtFixtures.write(
            name: "good",
            uuid: "11111111-0000-4000-8000-000000000010",
            disks: [.file(tree.shared + "/good/disk.qcow2", target: "vda")],
            snapshots: [],
            domains: tree.domains,
            snapshotRoot: tree.snapshots
        )
        try "<domain type='kvm'><name>broken</name><uuid>x".write(
            toFile: tree.domains + "/broken.xml",
            atomically: true,
            encoding: .utf8
        )
        try LibvirtFixtures.write(
            name: "orphan",
            uuid: "11111111-0000-4000-8000-000000000011",
            disks: [.file(tree.shared + "/good/disk.qcow2", target: "vda")],
            snapshots: [
                .init(name: "s2", parent: "s1-deleted", memoryFile: nil, overlays: [:], capturedDisks: [])
            ],
            domains: tree.domains,
            snapshotRoot: tree.snapshots
        )
        // An entity that would read a local file is never expanded.
        try """
        <?xml version="1.0"?>
        <!DOCTYPE domain [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
        <domain type='kvm'><name>&secret;</name><uuid>11111111-0000-4000-8000-000000000012</uuid></domain>
        """.write(toFile: tree.domains + "/xxe.xml", atomically: true, encoding: .utf8)
        let report = tree.scan()
        #expect(report.vms.map(\.name).contains("good"))
        #expect(!report.vms.contains { $0.name == "broken" || $0.name == "orphan" })
        #expect(!report.vms.contains { $0.name.contains("root:") }, "no external entity was loaded")
        let errors = Dictionary(
            report.inventoryErrors.map { ($0.vm ?? "", $0.message) },
            uniquingKeysWith: { a, _ in a }
        )
        #expect(errors["broken"]?.contains("not well-formed XML") == true, "\(errors)")
        #expect(errors["orphan"]?.contains("names parent s1-deleted") == true, "\(errors)")
    }

    @Test func disksThatAreNotFilesAreSharedOnlyWhereSharedSourcesCoverThem() throws {
        let tree = try Tree()
        defer { tree.remove() }
        try LibvirtFixtures.write(
            name: "ceph1",
            uuid: "11111111-0000-4000-8000-000000000020",
            disks: [
                .network(protocol: "rbd", name: "vms/ceph1-root", target: "vda"),
                .block("/dev/disk/by-id/local-ssd", target: "vdb"),
            ],
            snapshots: [],
            domains: tree.domains,
            snapshotRoot: tree.snapshots
        )
        let report = tree.scan(sharedSources: ["rbd:vms/"])
        let vm = try #require(report.vms.first)
        let rbd = try #require(vm.files.first { $0.path == "rbd:vms/ceph1-root" })
        #expect(rbd.volumeId == "shared-source:rbd:vms/")
        #expect(rbd.relativePath == "ceph1-root")
        #expect(rbd.problem == nil)
        let block = try #require(vm.files.first { $0.path == "/dev/disk/by-id/local-ssd" })
        #expect(block.volumeId == nil, "not covered by sharedSources: local to this node")
        #expect(report.volumes.contains { $0.id == "shared-source:rbd:vms/" && $0.probeWritten != nil })
    }
}

@Suite struct LibvirtStateTests {
    @Test(arguments: [
        ("running\n", "Running"), ("shut off\n", "Off"), ("crashed", "Off"), ("paused", "Paused"),
        ("pmsuspended", "Paused"), ("in shutdown", "Running"), ("", "Running"), ("no such domain", "Running"),
    ])
    func virshWordsMapToSpecStates(output: String, state: String) {
        #expect(LibvirtSource.state(fromOutput: output) == state)
    }

    @Test func theStateCommandGetsTheNameShellQuotedAndAFailureMeansRunning() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ck-state-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hostile = #"it's "x"; touch pwned"#
        let echo = LibvirtSource(stateCommand: "printf '%s' {name} > \(directory)/seen; echo paused")
        #expect(echo.state(of: hostile) == "Paused")
        #expect(try String(contentsOfFile: directory + "/seen", encoding: .utf8) == hostile)
        #expect(!FileManager.default.fileExists(atPath: "pwned"), "the name was data, not a command")
        #expect(LibvirtSource(stateCommand: "exit 3").state(of: "vm") == "Running")
        #expect(LibvirtSource(stateCommand: nil).state(of: "vm") == "Running")
    }

    /// Issue 23: libvirt's live state (`<domstatus>` wrapping the running `<domain>`) gives a running domain's real
    /// disks and state, and reports a transient domain; the UEFI variable store and a managed-save image are in the
    /// file set (a local one strands the VM like any other file).
    @Test func theLiveStateTransientDomainsNVRAMAndManagedSaveAreReported() throws {
        let tree = try LibvirtInventoryTests.Tree()
        defer { tree.remove() }
        let dir = tree.shared + "/kvm2"
        try tree.qcow2(dir + "/base.qcow2")
        try tree.qcow2(dir + "/ov.qcow2", backing: dir + "/base.qcow2")
        try tree.qcow2(tree.local + "/kvm3/t.qcow2")
        try tree.qcow2(dir + "/kvm4.qcow2")
        try tree.touch(tree.local + "/nvram/kvm4_VARS.fd")
        try tree.touch(tree.root + "/save/kvm4.save")
        try FileManager.default.createDirectory(atPath: tree.live, withIntermediateDirectories: true)
        let running = "aaaaaaaa-0000-4000-8000-000000000002"
        let transient = "aaaaaaaa-0000-4000-8000-000000000003"
        let stopped = "aaaaaaaa-0000-4000-8000-000000000004"
        let localVolume = "33333333-3333-4333-8333-333333333333"
        // kvm2: persistent XML names the base; while it runs, the live state names the overlay it writes to.
        try LibvirtFixtures.write(
            name: "kvm2",
            uuid: running,
            disks: [.file(dir + "/base.qcow2", target: "vda")],
            snapshots: [],
            domains: tree.domains,
            snapshotRoot: tree.snapshots
        )
        func domstatus(_ state: String, _ domain: String) -> String {
            let head = "<domstatus state='\(state)' reason='booted' pid='4242'>\n"
            let monitor = "  <monitor path='/run/m.sock' type='unix'/>\n"
            let live = domain.replacingOccurrences(of: "<domain type='kvm'>", with: "<domain type='kvm' id='7'>")
            return head + monitor + live + "</domstatus>\n"
        }
        try domstatus(
            "running",
            LibvirtFixtures.domainXML(
                name: "kvm2",
                uuid: running,
                memoryKiB: 2_097_152,
                disks: [.file(dir + "/ov.qcow2", target: "vda")]
            )
        ).write(toFile: tree.live + "/kvm2.xml", atomically: true, encoding: .utf8)
        // kvm3: transient (`virsh create`), paused, only a live state file.
        try domstatus(
            "paused",
            LibvirtFixtures.domainXML(
                name: "kvm3",
                uuid: transient,
                memoryKiB: 1_048_576,
                disks: [.file(tree.local + "/kvm3/t.qcow2", target: "vda")]
            )
        ).write(toFile: tree.live + "/kvm3.xml", atomically: true, encoding: .utf8)
        // kvm4: defined, not running, UEFI variables and a managed-save image on this host.
        try LibvirtFixtures.domainXML(
            name: "kvm4",
            uuid: stopped,
            memoryKiB: 1_048_576,
            disks: [.file(dir + "/kvm4.qcow2", target: "vda")]
        ).replacingOccurrences(
            of: "<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>",
            with: "<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type>"
                + "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
                + "<nvram>\(tree.local)/nvram/kvm4_VARS.fd</nvram></os>"
        ).replacingOccurrences(
            of: "</devices>",
            with: "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm></devices>"
        ).write(toFile: tree.domains + "/kvm4.xml", atomically: true, encoding: .utf8)
        // Its emulated TPM's state, where libvirt keeps it (on this host).
        try tree.touch(tree.root + "/swtpm/\(stopped)/tpm2/tpm2-00.permall")
        // A live file that is not libvirt's is left out, never an error of the whole inventory.
        try "garbage".write(toFile: tree.live + "/junk.xml", atomically: true, encoding: .utf8)

        let report = tree.scan(stateCommand: nil)
        #expect(report.inventoryErrors.isEmpty, "\(report.inventoryErrors)")
        func vm(_ name: String) -> ReportedVM? { report.vms.first { $0.name == name } }
        let kvm2 = try #require(vm("kvm2"))
        #expect(kvm2.state == "Running")
        #expect(kvm2.files.map(\.path).contains(dir + "/ov.qcow2"), "the disk it really uses")
        #expect(kvm2.chains.first?.files.count == 2)
        let kvm3 = try #require(vm("kvm3"), "a transient domain is reported")
        #expect(kvm3.state == "Paused" && kvm3.memoryMiB == 1024)
        let transientDisk = kvm3.files.first { $0.path == tree.local + "/kvm3/t.qcow2" }
        #expect(transientDisk?.volumeId == localVolume)
        let kvm4 = try #require(vm("kvm4"))
        #expect(kvm4.state == "Off", "defined, with no live state")
        let nvram = try #require(kvm4.files.first { $0.kind == "guest-state" })
        #expect(nvram.path == tree.local + "/nvram/kvm4_VARS.fd")
        #expect(nvram.volumeId == localVolume)
        let save = try #require(kvm4.files.first { $0.kind == "runtime-state" })
        #expect(save.path == tree.root + "/save/kvm4.save")
        #expect(save.volumeId == nil)
        let tpm = kvm4.files.filter { $0.kind == "guest-state" }.map(\.path)
        #expect(tpm.contains(tree.root + "/swtpm/\(stopped)/tpm2/tpm2-00.permall"), "\(tpm)")
        #expect(kvm2.files.allSatisfy { $0.kind != "guest-state" }, "no TPM, no TPM state")
        // Without a stateCommand and without a readable live directory, the state is unknown: Running.
        try FileManager.default.removeItem(atPath: tree.live)
        #expect(tree.scan(stateCommand: nil).vms.first { $0.name == "kvm4" }?.state == "Running")
    }
}

/// Issue 23: what leaves the host in the hypervisor metadata.
@Suite struct LibvirtMetadataCleaningTests {
    @Test func passwordsTheHeaderCommentAndTheCurrentMarkAreStripped() {
        let file = """
            <?xml version='1.0'?>
            <!--
            WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
            OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:
              virsh snapshot-edit
            -->

            <domainsnapshot>
              <name>s1</name>
              <active>1</active>
              <domain type='qemu'>
                <devices>
                  <graphics type='vnc' port='-1' autoport='yes' passwd='s3cret!x'/>
                  <graphics type="spice" passwd="an0ther" keymap="en-us"/>
                </devices>
              </domain>
            </domainsnapshot>
            """
        let cleaned = LibvirtMetadata.cleaned(text: file)
        #expect(cleaned.hasPrefix("<domainsnapshot>"))
        #expect(!cleaned.contains("passwd") && !cleaned.contains("s3cret") && !cleaned.contains("an0ther"))
        #expect(!cleaned.contains("<active>") && !cleaned.contains("WARNING"))
        #expect(cleaned.contains("<graphics type='vnc' port='-1' autoport='yes'/>"))
        #expect(cleaned.contains(#"<graphics type="spice" keymap="en-us"/>"#))
    }
}
