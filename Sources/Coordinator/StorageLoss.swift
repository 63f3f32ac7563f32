import ChainModel
import ClusterAPI
import Synchronization

/// The shared volumes each node's storage heartbeat writes do not reach, as its heartbeats say (SPEC §6, `volume-lost`).
///
/// Memory only, on this process's monotonic clock: a node that stops heartbeating is judged by the lease rule instead,
/// and a restarted coordinator hears every loss again within a heartbeat.
final class StorageLossBook: Sendable {
    private struct Entry {
        var since: ContinuousClock.Instant
    }

    private let lost = Mutex<[NodeName: [VolumeID: Entry]]>([:])

    /// What one heartbeat says: these volumes are lost (for so long on the agent's clock), every other one is reached.
    ///
    /// Names are checked and durations bounded; at most `StorageHeartbeatReport.maxLost` entries are taken.
    func heard(from node: NodeName, lost entries: [LostVolumeJSON]?, at now: ContinuousClock.Instant = .now) {
        var volumes: [VolumeID: Entry] = [:]
        for entry in (entries ?? []).prefix(StorageHeartbeatReport.maxLost) {
            guard !entry.volume.isEmpty, (try? NameRule.identifier("volume").check(entry.volume)) != nil else {
                continue
            }
            let milliseconds = min(max(entry.forMilliseconds, 0), 86_400_000 * 30)
            volumes[VolumeID(entry.volume)] = Entry(since: now - .milliseconds(milliseconds))
        }
        lost.withLock { book in
            // A loss already known keeps its earlier start (the agent's clock may restart with the agent).
            let before = book[node] ?? [:]
            for (volume, entry) in volumes {
                volumes[volume] = Entry(since: min(before[volume]?.since ?? entry.since, entry.since))
            }
            book[node] = volumes.isEmpty ? nil : volumes
        }
    }

    /// The node is gone (removed): nothing of it is kept.
    func forget(_ node: NodeName) {
        lost.withLock { $0[node] = nil }
    }

    /// The losses older than `timeout`, with how long each has lasted.
    func lost(longerThan timeout: Duration, at now: ContinuousClock.Instant = .now) -> [NodeName: [VolumeID: Duration]]
    {
        lost.withLock { book in
            var result: [NodeName: [VolumeID: Duration]] = [:]
            for (node, volumes) in book {
                for (volume, entry) in volumes where now - entry.since > timeout {
                    result[node, default: [:]][volume] = now - entry.since
                }
            }
            return result
        }
    }
}
