import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation
import Logging
import ShellHooks
import Synchronization

extension AgentService {
    /// A VM whose `stop` failed, or that the inventory still lists running after it, is tried again this much later.
    static let isolationStopRetry = Duration.seconds(10)

    /// The `stop` isolation response (SPEC §6).
    ///
    /// Once this node has been isolated for `isolationTimeout` and its peers' records show other nodes still running
    /// (so it is this node that is cut off, not the coordinator that is gone), it stops its VMs whose response is
    /// `stop`. Called from the lease loop; the stops run in a task of their own.
    func respondToIsolation(at now: MonotonicTime) {
        let timeout = storage.isolationTimeout
        let (ttl, period) = lease.withLock { ($0.leaseTTL, $0.leaseTTL / 5) }
        let peersRunning = storage.peersRunning(at: now, leaseTTL: ttl, period: period)
        guard lease.withLock({ $0.stopsIsolatedVMs(at: now, isolationTimeout: timeout, peersRunning: peersRunning) })
        else { return }
        let due = storage.claimIsolationStops(at: now, retry: Self.isolationStopRetry)
        guard !due.isEmpty else { return }
        Task { await self.stopForIsolation(due) }
    }

    /// Runs the `stop` hook for each VM, then rescans: a VM counts as stopped, and the storage heartbeat lists it
    /// `stopped` (so that it can fail over), only once the inventory no longer lists it running.
    private func stopForIsolation(_ vms: [(vm: StorageHeartbeat.Entry, name: String)]) async {
        guard let hook = config.hooks["stop"] else {
            for (_, name) in vms {
                logger.critical(
                    """
                    \(PrintableText.escape(name))'s isolation response is stop, but this agent has no stop hook: it \
                    keeps running while this node is isolated (configure hooks.stop)
                    """
                )
            }
            return
        }
        for (entry, name) in vms {
            logger.warning(
                "isolated while other nodes still run: stopping \(PrintableText.escape(name)) (isolation response stop)"
            )
            let outcome = await HookRunner.run(
                hook,
                environment: [
                    "CHAINKEEPER_OPERATION": "stop", "CHAINKEEPER_VM_ID": entry.vm.rawValue,
                    "CHAINKEEPER_VM_NAME": name, "CHAINKEEPER_EPOCH": String(entry.epoch.rawValue),
                    "CHAINKEEPER_NODE": config.node, "CHAINKEEPER_REASON": "isolated",
                ],
                timeout: config.hookTimeout
            )
            if !outcome.succeeded {
                logger.error(
                    "stop hook failed; tried again in \(DurationText.format(Self.isolationStopRetry))",
                    metadata: [
                        "vm": .string(PrintableText.escape(name)), "status": .stringConvertible(outcome.status),
                        "timedOut": .stringConvertible(outcome.timedOut), "output": .string(outcome.output),
                    ]
                )
            }
        }
        // The inventory decides whether the VM's process has exited; only then is it written `stopped`.
        await rescanOnce()
        for (entry, name) in vms {
            if storage.listsRunning(entry.vm) {
                logger.error(
                    """
                    \(PrintableText.escape(name)) is still listed running after its stop hook; it is not recorded \
                    stopped and does not fail over (tried again in \(DurationText.format(Self.isolationStopRetry)))
                    """
                )
            } else {
                logger.notice(
                    """
                    \(PrintableText.escape(name)) stopped while this node is isolated; its storage heartbeat lists it \
                    stopped at epoch \(entry.epoch), so it can fail over
                    """
                )
            }
        }
    }
}
