import ChainModel

/// Why a policy update cannot be applied.
public enum PolicyRefusal: Error, Hashable, Sendable {
    /// A node the cluster does not know (404).
    case unknownNode(String)
    /// A value outside its rule (400).
    case invalid(String)

    public var message: String {
        switch self {
        case .unknownNode(let name): "no node is named '\(name)'"
        case .invalid(let message): message
        }
    }
}

extension PolicyUpdate {
    /// `policy` with this update's fields changed (starting from the defaults with `clear`), every value checked
    /// against its rule: known nodes, a printable class name, a priority, bounded thresholds, preferred owners among
    /// the possible ones.
    public func applied(to policy: PlacementPolicy, knownNodes: Set<String>) throws(PolicyRefusal) -> PlacementPolicy {
        var policy = clear ? .default : policy
        func nodes(_ names: [String]) throws(PolicyRefusal) -> [NodeName] {
            for name in names where !knownNodes.contains(name) { throw .unknownNode(name) }
            return names.map(NodeName.init(rawValue:))
        }
        if let highlyAvailable { policy.highlyAvailable = highlyAvailable }
        if let possibleOwners { policy.possibleOwners = try nodes(possibleOwners) }
        if let preferredOwners { policy.preferredOwners = try nodes(preferredOwners) }
        if let antiAffinityClass {
            if !antiAffinityClass.isEmpty,
                let problem = NameRule.name("an anti-affinity class").violation(in: antiAffinityClass)
            {
                throw .invalid(problem)
            }
            policy.antiAffinityClass = antiAffinityClass.isEmpty ? nil : antiAffinityClass
        }
        if let priority {
            guard let value = FailoverPriority(rawValue: priority) else {
                throw .invalid("priority must be high, medium, low or none, got '\(priority)'")
            }
            policy.priority = value
        }
        if let maxFailovers {
            guard (0...PlacementPolicy.maxFailoversBound).contains(maxFailovers) else {
                throw .invalid(
                    "max-failovers must lie within 0...\(PlacementPolicy.maxFailoversBound), got \(maxFailovers)"
                )
            }
            policy.threshold.maxFailovers = maxFailovers
        }
        if let failoverPeriod {
            guard let period = DurationText.parse(failoverPeriod), period > .zero,
                period <= PlacementPolicy.failoverPeriodBound
            else {
                throw .invalid(
                    "failover-period must be a duration such as \"6h\", at most "
                        + "\(DurationText.format(PlacementPolicy.failoverPeriodBound)), got '\(failoverPeriod)'"
                )
            }
            policy.threshold.period = period
        }
        if let isolation {
            guard let value = IsolationResponse(rawValue: isolation) else {
                throw .invalid("isolation must be keep-running or stop, got '\(isolation)'")
            }
            policy.isolation = value
        }
        if let checkpointVolume {
            // The coordinator has resolved a name to the volume's id before this.
            if !checkpointVolume.isEmpty,
                let problem = NameRule.identifier("a volume id").violation(in: checkpointVolume)
            {
                throw .invalid(problem)
            }
            policy.checkpointVolume = checkpointVolume.isEmpty ? nil : VolumeID(checkpointVolume)
        }
        if let stranded {
            guard let value = StrandedResponse(rawValue: stranded) else {
                throw .invalid("stranded must be refuse or repair, got '\(stranded)'")
            }
            policy.stranded = value
        }
        if !policy.possibleOwners.isEmpty,
            let stray = policy.preferredOwners.first(where: { !policy.possibleOwners.contains($0) })
        {
            throw .invalid("preferred owner \(stray) is not one of the possible owners")
        }
        return policy
    }
}

extension AntiAffinityClass {
    /// A class named `name` (a printable name of at most 255 bytes).
    public static func named(_ name: String, enforced: Bool) throws(PolicyRefusal) -> AntiAffinityClass {
        if let problem = NameRule.name("an anti-affinity class").violation(in: name) { throw .invalid(problem) }
        return AntiAffinityClass(name: name, enforced: enforced)
    }
}
