import ChainModel
import Foundation

/// A VM as etcd holds it: its owner and epoch, the highest epoch a migration reserved, and the migration under way.
struct EtcdVMRecord: Codable, Sendable, Equatable {
    var name: String
    var owner: NodeName
    var epoch: Epoch
    /// Every epoch up to this one is used (a migration reserved it, committed or not).
    var reserved: Epoch
    /// The journal entry of the migration under way, if any.
    var active: String?

    var ownership: Ownership { Ownership(owner: owner, epoch: epoch) }
}

struct EtcdNodeRecord: Codable, Sendable {
    var state: NodeState
    var because: String
    var actor: String
    var at: Timestamp
}

/// An anti-affinity class's enforcement (`policy class`).
struct EtcdClassRecord: Codable, Sendable {
    var enforced: Bool
}

/// `PlacementPolicy` with its threshold period in milliseconds.
struct EtcdPolicyRecord: Codable, Sendable {
    var highlyAvailable: Bool?
    var possibleOwners: [NodeName]
    var preferredOwners: [NodeName]
    var antiAffinityClass: String?
    var priority: FailoverPriority
    var maxFailovers: Int
    var periodMilliseconds: Int64
    /// `keep-running` or `stop`; absent in records written before issue 22.
    ///
    /// Read as text: a value this build does not know (a newer coordinator's) reads as `keep-running`, the response that stops nothing, and never makes the
    /// whole copy of etcd's state fail.
    var isolation: String?
    /// `--checkpoint-volume`'s volume id; absent in records written before issue 24.
    var checkpointVolume: String?
    /// `refuse` or `repair`; absent in records written before issue 25, and unknown values, read as `refuse`.
    var stranded: String?

    init(_ policy: PlacementPolicy) {
        stranded = policy.stranded.rawValue
        checkpointVolume = policy.checkpointVolume?.rawValue
        highlyAvailable = policy.highlyAvailable
        possibleOwners = policy.possibleOwners
        preferredOwners = policy.preferredOwners
        antiAffinityClass = policy.antiAffinityClass
        priority = policy.priority
        maxFailovers = policy.threshold.maxFailovers
        periodMilliseconds = policy.threshold.period.wholeMilliseconds
        isolation = policy.isolation.rawValue
    }

    var policy: PlacementPolicy {
        PlacementPolicy(
            highlyAvailable: highlyAvailable,
            possibleOwners: possibleOwners,
            preferredOwners: preferredOwners,
            antiAffinityClass: antiAffinityClass,
            priority: priority,
            threshold: FailoverThreshold(maxFailovers: maxFailovers, period: .milliseconds(periodMilliseconds)),
            isolation: isolation.flatMap(IsolationResponse.init(rawValue:)) ?? .keepRunning,
            checkpointVolume: checkpointVolume.map(VolumeID.init(rawValue:)),
            stranded: stranded.flatMap(StrandedResponse.init(rawValue:)) ?? .refuse
        )
    }
}

enum EtcdJSON {
    /// One decoder for every record: making one per record cost more than decoding it.
    static let decoder = JSONDecoder()

    static func encode(_ value: some Encodable) throws(StoreError) -> [UInt8] {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return Array(try encoder.encode(value))
        } catch {
            throw StoreError(.invalidValue, "cannot encode a record for etcd: \(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], key: String) throws(StoreError) -> T {
        do {
            return try decoder.decode(type, from: Data(bytes))
        } catch {
            throw StoreError(
                .invalidValue,
                "etcd key \(key) does not hold a record this coordinator can read (written by another version?): \(error)"
            )
        }
    }
}
