import Foundation
import Logging
import ShellHooks

#if canImport(Glibc)
import Glibc
#endif

/// The agent's side of the watchdog (SPEC §6): starts `chainkeeperd watchdog` as a separate process unless one
/// started by an earlier run is still alive, and writes the feed file.
final class WatchdogKeeper: Sendable {
    let executable: String
    let node: String
    let fenceHook: String?
    let hookTimeout: Duration
    let feedPath: String
    let pidPath: String
    let logPath: String
    /// On a libvirt node with no fence hook: the built-in fence destroys the domains listed here (the HA domains that
    /// ran at the last rescan) through `libvirtURI`.
    let libvirtURI: String?
    let fenceListPath: String
    let logger: Logger

    init(executable: String, config: AgentConfig, logger: Logger) {
        self.executable = executable
        node = config.node
        fenceHook = config.hooks["fence"]
        hookTimeout = config.hookTimeout
        feedPath = (config.dataDir as NSString).appendingPathComponent("watchdog.feed")
        pidPath = (config.dataDir as NSString).appendingPathComponent("watchdog.pid")
        logPath = (config.dataDir as NSString).appendingPathComponent("watchdog.log")
        fenceListPath = (config.dataDir as NSString).appendingPathComponent("libvirt-fence.list")
        libvirtURI = config.hooks["fence"] == nil ? config.libvirt?.uri : nil
        self.logger = logger
    }

    /// The running watchdog's process id, if one is alive.
    var runningPID: Int32? {
        guard let text = try? String(contentsOfFile: pidPath, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, kill(pid, 0) == 0,
            let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
            command.contains("watchdog")
        else { return nil }
        return pid
    }

    /// Starts a watchdog unless one is alive; it stays idle until the first armed feed.
    func ensureRunning() {
        if runningPID != nil { return }
        if case .armed = WatchdogFeed.read(from: feedPath) {
            // A feed from a dead watchdog's time: start from a clean, idle state.
            try? WatchdogFeed.disarmed.write(to: feedPath)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        var arguments = [
            "watchdog", "--feed", feedPath, "--node", node, "--hook-timeout", "\(hookTimeout.wholeSeconds)s",
        ]
        if let fenceHook { arguments += ["--fence-hook", fenceHook] }
        if let libvirtURI { arguments += ["--libvirt-uri", libvirtURI, "--libvirt-fence-list", fenceListPath] }
        process.arguments = arguments
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let log = FileHandle(forWritingAtPath: logPath)
        log?.seekToEndOfFile()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        do {
            try process.run()
            try "\(process.processIdentifier)\n".write(toFile: pidPath, atomically: true, encoding: .utf8)
            logger.info("watchdog started", metadata: ["pid": .stringConvertible(process.processIdentifier)])
        } catch {
            logger.critical("cannot start the watchdog: \(error.localizedDescription); this node has no watchdog")
        }
        try? log?.close()
        if fenceHook == nil, libvirtURI == nil {
            logger.warning("no fence hook is configured: neither the agent nor its watchdog can stop this node's VMs")
        }
    }

    /// Writes the UUIDs the built-in libvirt fence destroys, when they changed (atomically: the watchdog may read it at
    /// any moment).
    func writeFenceList(_ uuids: [String]) {
        guard libvirtURI != nil else { return }
        let text = uuids.sorted().joined(separator: "\n") + "\n"
        guard (try? String(contentsOfFile: fenceListPath, encoding: .utf8)) != text else { return }
        do {
            try text.write(toFile: fenceListPath, atomically: true, encoding: .utf8)
        } catch {
            logger.error("cannot write the fence list \(fenceListPath): \(error.localizedDescription)")
        }
    }

    func write(_ feed: WatchdogFeed) {
        do {
            try feed.write(to: feedPath)
        } catch {
            logger.error("cannot write the watchdog feed \(feedPath): \(error.localizedDescription)")
        }
    }
}

extension Duration {
    fileprivate var wholeSeconds: Int64 { max(1, components.seconds) }
}
