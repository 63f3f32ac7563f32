import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real libvirt "host" for the tests (issue 23): `libvirtd`, `virtlogd` and `virtlockd` in their own mount and UTS
/// namespace, started by `scripts/libvirt-host` (which the KVM demo uses too), with QEMU in TCG mode.
///
/// Needs root and the packages `scripts/test` installs; a missing piece is an error that says so, never a skip.
public struct LibvirtHost: Sendable {
    public let name: String
    public let directory: String
    public let address: String
    public let port: Int

    /// The host's daemon through its UNIX socket (what its agent uses).
    public var socketURI: String { "qemu:///system?socket=\(directory)/run/libvirt-sock" }
    /// The host's daemon over TCP (what another host's libvirt migrates to).
    public var tcpURI: String { "qemu+tcp://\(address):\(port)/system" }
    public var domains: String { directory + "/etc/qemu" }
    public var snapshots: String { directory + "/lib/qemu/snapshot" }
    public var live: String { directory + "/run/qemu" }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The repository's `scripts/libvirt-host`.
    public static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/libvirt-host").path
    }

    /// Starts a host; `lockspace` is the lock manager's directory on the shared volume.
    public static func start(
        name: String,
        directory: String,
        address: String,
        lockspace: String
    ) throws -> LibvirtHost {
        for tool in ["/usr/sbin/libvirtd", "/usr/bin/virsh", "/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-img"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            throw Failure(
                description: "\(tool) is missing: these tests need real libvirtd and QEMU (scripts/test installs "
                    + "libvirt-daemon-system qemu-system-x86 libvirt-clients qemu-utils)"
            )
        }
        let host = LibvirtHost(name: name, directory: directory, address: address, port: Daemons.freePort())
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let log = directory + "/script.log"
        let status = try Self.runScript(
            [script, "start", directory, name, address, String(host.port), lockspace],
            log: log
        )
        guard status == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw Failure(description: "libvirt host \(name) did not start (exit \(status)): \(output)")
        }
        return host
    }

    /// Destroys what runs there and stops the daemons.
    public func stop() {
        _ = try? Self.runScript([Self.script, "stop", directory], log: directory + "/script.log")
    }

    /// Runs `bash ARGUMENTS` with its output appended to `log`, and waits for it with `waitpid`.
    ///
    /// Not through Foundation's `Process`: the script starts daemons that outlive it, and `Process.waitUntilExit` was
    /// seen never to return after such a script exited (its child left unreaped).
    static func runScript(_ arguments: [String], log: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = (["/bin/bash"] + arguments).map { strdup($0) } + [nil]
        let environment: [UnsafeMutablePointer<CChar>?] =
            ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + environment { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, argv, environment)
        guard spawned == 0 else { throw Failure(description: "cannot run \(arguments.first ?? ""): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw Failure(description: "waitpid: errno \(errno)") }
        }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// `virsh -c SOCKET ARGUMENTS`.
    @discardableResult
    public func virsh(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try Daemons.runBlocking("/usr/bin/virsh", ["-q", "-c", socketURI] + arguments, environment: [:])
    }

    /// `virsh`, failing with its error output unless it exits 0.
    @discardableResult
    public func must(_ arguments: [String]) throws -> String {
        let result = try virsh(arguments)
        guard result.status == 0 else {
            throw Failure(description: "virsh \(arguments.joined(separator: " ")) on \(name): \(result.err)")
        }
        return result.out
    }

    /// The snapshot tree as `virsh snapshot-list --parent` lists it (name → parent), and the current snapshot.
    public func snapshotTree(_ domain: String) throws -> (parents: [String: String], current: String?) {
        var parents: [String: String] = [:]
        for line in try must(["snapshot-list", domain, "--parent"]).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard let name = fields.first else { continue }
            // `NAME DATE TIME ZONE STATE [PARENT]`.
            parents[name] = fields.count >= 6 ? fields[5] : ""
        }
        let current = try virsh(["snapshot-current", domain, "--name"])
        let name = current.out.trimmingCharacters(in: .whitespacesAndNewlines)
        return (parents, current.status == 0 && !name.isEmpty ? name : nil)
    }

    /// A tiny TCG domain (64 MiB, one vCPU, no NIC, sitting in its firmware) on `disk` (qcow2).
    public static func domainXML(name: String, uuid: String, disk: String) -> String {
        """
        <domain type='qemu'>
          <name>\(name)</name>
          <uuid>\(uuid)</uuid>
          <memory unit='MiB'>64</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='pc'>hvm</type><bios rebootTimeout='-1'/></os>
          <devices>
            <disk type='file' device='disk'>
              <driver name='qemu' type='qcow2'/>
              <source file='\(disk)'/>
              <target dev='vda' bus='virtio'/>
            </disk>
            <graphics type='vnc' autoport='yes' passwd='s3cret!x'/>
            <memballoon model='none'/>
          </devices>
        </domain>
        """
    }
}

/// `qemu-img create -f qcow2 PATH 16M`, the base disk of a test domain.
public func createQcow2(_ path: String) throws {
    let result = try Daemons.runBlocking(
        "/usr/bin/qemu-img",
        ["create", "-q", "-f", "qcow2", path, "16M"],
        environment: [:]
    )
    guard result.status == 0 else { throw LibvirtHost.Failure(description: "qemu-img create \(path): \(result.err)") }
}
