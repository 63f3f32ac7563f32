import ChainModel
import ClusterAPI

/// Disks that are not files (`rbd:pool/image`, `iscsi:…`, a block device) as volumes of their own.
///
/// They cannot carry a volume marker or a probe nonce. A node that lists a prefix in `sharedSources` (SPEC §2) reports it as a volume of its own kind, so the strand
/// rule treats every disk under it like a file on a shared volume reachable from exactly those nodes; a source no
/// entry covers is local to its node.
///
/// Such a "volume" is verified by configuration, not by a probe: the agent writes and reads a nonce derived from the
/// probe interval, so it stays verified while the node keeps listing the prefix, and lapses like a real probe when it
/// stops.
public enum SharedSources {
    /// The volume id for a `sharedSources` prefix.
    public static func volumeID(_ prefix: String) -> String { VolumeID.sharedSourcePrefix + prefix }

    /// The longest configured prefix covering `source`, if any.
    public static func prefix(covering source: String, in prefixes: [String]) -> String? {
        prefixes.filter { !$0.isEmpty && source.hasPrefix($0) }.max { $0.count < $1.count }
    }

    /// One reported volume per prefix, with this probe interval's nonce written and this and the previous one read.
    static func volumes(_ prefixes: [String], node: String, now: Timestamp, probeInterval: Duration) -> [ReportedVolume]
    {
        let interval = max(probeInterval.wholeMilliseconds, 1000)
        let bucket = now.millisecondsSinceEpoch / interval
        return Array(Set(prefixes.filter { !$0.isEmpty })).sorted().map { prefix in
            ReportedVolume(
                id: volumeID(prefix),
                name: prefix,
                mountPath: prefix,
                filesystemType: "shared-source",
                probeWritten: "source-\(node)-\(bucket)",
                probeRead: ["source-\(node)-\(bucket)", "source-\(node)-\(bucket - 1)"]
            )
        }
    }
}
