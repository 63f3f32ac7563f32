import DiskFormatsTesting

/// Seeded agent reports of random shape and extreme values, for `chainkeeper-fuzz reports` and its smoke test.
///
/// Input `i` of seed `s` is always the same, so a crash is replayed from the seed and the iteration. Each input starts
/// from a plausible report of one of three nodes (VM ids drawn from a small shared pool, so that nodes claim each
/// other's VMs, with epochs, checkpoints whose parents may form cycles, chains whose indices may point anywhere) and
/// then gets up to four mutations: extreme numbers (past Int64, negative, 2^53), huge or hostile strings (control
/// characters, NUL, `..`, 300 KB), changed types, dropped and unknown keys, arrays repeated past their limits, deep
/// nesting, and byte damage after writing (truncation, flipped bytes: text that is no longer JSON).
public struct ReportFuzzer: Sendable {
    public let seed: UInt64
    public let nodes: [String]

    public init(seed: UInt64, nodes: [String]) {
        self.seed = seed
        self.nodes = nodes
    }

    /// One request: which node's route it goes to, and its body.
    public struct Input: Sendable {
        public var node: String
        public var body: [UInt8]
        /// What was done to it, for the progress line of a crash.
        public var mutations: [String]
    }

    public func input(_ iteration: Int) -> Input {
        var random = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(truncatingIfNeeded: iteration))
        let node = nodes[Int(random.next() % UInt64(nodes.count))]
        var report = Self.report(from: node, random: &random)
        var mutations: [String] = []
        for _ in 0..<Int(random.next() % 5) {
            let kind = Int(random.next() % 6)
            mutations.append(Self.mutationNames[kind])
            switch kind {
            case 0: report = Self.replaceScalar(in: report, with: Self.extreme(&random), random: &random)
            case 1: report = Self.replaceScalar(in: report, with: Self.anyShape(&random), random: &random)
            case 2: report = Self.dropOrAddKey(in: report, random: &random)
            case 3: report = Self.repeatArray(in: report, random: &random)
            case 4: report = Self.replaceScalar(in: report, with: Self.deep(&random), random: &random)
            default: break
            }
        }
        var body = Array(report.text.utf8)
        if mutations.contains("bytes") || random.next() % 20 == 0 {
            body = Self.damage(body, random: &random)
        }
        // The body names its node; now and then another one than the route's (refused 403).
        return Input(node: random.next() % 50 == 0 ? nodes[0] : node, body: body, mutations: mutations)
    }

    static let mutationNames = ["extreme", "shape", "keys", "repeat", "deep", "bytes"]

    // MARK: - A plausible report

    static let volumes = ["6f0e3c1e-0000-4000-8000-00000000c5v1", "6f0e3c1e-0000-4000-8000-00000000c5v2"]

    static func report(from node: String, random: inout SplitMix64) -> JSONValue {
        let local = "local-\(node)"
        let volumeList: [JSONValue] = (volumes + [local]).map { id in
            .object([
                ("id", .string(id)), ("name", .string(id == local ? "\(node)-local" : "csv-\(id.suffix(2))")),
                ("mountPath", .string("/mnt/\(id.suffix(4))")), ("filesystemType", .string("nfs4")),
                ("probeWritten", .string("nonce-\(id.suffix(4))-\(node)-\(random.next() % 4)")),
                (
                    "probeRead",
                    .array((0..<3).map { .string("nonce-\(id.suffix(4))-node\($0 + 1)-\(random.next() % 4)") })
                ),
                ("freeBytes", .int(Int64(random.next() % (1 << 40)))),
            ])
        }
        let vmCount = Int(random.next() % 12)
        let vms: [JSONValue] = (0..<vmCount).map { _ in vm(node: node, volumes: volumes + [local], random: &random) }
        return .object([
            ("node", .string(node)), ("driver", .string(random.next() % 10 == 0 ? "libvirt" : "hyperv-json")),
            ("memoryMiB", .int(Int64(random.next() % 262_144))), ("volumes", .array(volumeList)), ("vms", .array(vms)),
            ("inventoryErrors", .array([.object([("vm", .string("x")), ("message", .string("cannot read"))])])),
            (
                "discoveredDisks",
                .array([
                    .object([
                        ("volumeId", .string(volumes[0])), ("relativePath", .string("orphan.avhdx")),
                        ("path", .string("/mnt/c5v1/orphan.avhdx")),
                    ])
                ])
            ),
        ])
    }

    static func vm(node: String, volumes: [String], random: inout SplitMix64) -> JSONValue {
        let id = random.next() % 30
        let checkpoints = Int(random.next() % 5)
        let checkpointList: [JSONValue] = (0..<checkpoints).map { index in
            // Parents usually earlier (a tree), sometimes later (a cycle), sometimes missing.
            let parent: JSONValue =
                index == 0 ? .null : .string("cp\(Int(random.next() % UInt64(checkpoints + 1)))")
            return .object([
                ("id", .string("cp\(index)")), ("name", .string("checkpoint \(index)")), ("parentId", parent),
                ("created", .int(1_800_000_000_000 + Int64(index))),
            ])
        }
        let fileCount = 1 + Int(random.next() % 6)
        let kinds = ["configuration", "disk", "disk", "memory", "runtime-state", "saved-state"]
        let files: [JSONValue] = (0..<fileCount).map { index in
            let volume = volumes[Int(random.next() % UInt64(volumes.count))]
            let onVolume = random.next() % 8 != 0
            var members: [(key: String, value: JSONValue)] = [
                ("path", .string("/mnt/\(volume.suffix(4))/vm\(id)/f\(index)")),
                ("kind", .string(kinds[index % kinds.count])),
                ("size", .int(Int64(random.next() % (1 << 36)))),
            ]
            if onVolume {
                members += [("volumeId", .string(volume)), ("relativePath", .string("vm\(id)/f\(index)"))]
            }
            if index > 0, index < 3 {
                members += [("format", .string("vhdx")), ("identifier", .string("guid-\(index)"))]
            }
            if checkpoints > 0, random.next() % 2 == 0 { members.append(("checkpointId", .string("cp0"))) }
            if random.next() % 10 == 0 { members.append(("problem", .string("file-missing"))) }
            return .object(members)
        }
        let chains: [JSONValue] = (0..<Int(random.next() % 3)).map { _ in
            .object([("files", .array((0..<Int(1 + random.next() % 3)).map { _ in .int(Int64(random.next() % 8)) }))])
        }
        var members: [(key: String, value: JSONValue)] = [
            ("id", .string("vm-\(id)")), ("name", .string("vm\(id)")),
            ("state", .string(["Running", "Off", "Saved", "Paused"][Int(random.next() % 4)])),
            ("highlyAvailable", .bool(random.next() % 4 != 0)), ("memoryMiB", .int(Int64(random.next() % 65_536))),
            ("checkpoints", .array(checkpointList)), ("files", .array(files)), ("chains", .array(chains)),
        ]
        if random.next() % 3 == 0 { members.append(("epoch", .int(Int64(1 + random.next() % 20)))) }
        return .object(members)
    }

    // MARK: - Mutations

    static func extreme(_ random: inout SplitMix64) -> JSONValue {
        let values: [JSONValue] = [
            .int(.max), .int(.min), .int(-1), .int(0), .int((1 << 53) - 1), .int(1 << 53), .int(1 << 32),
            .number("9223372036854775808"), .number("-9223372036854775809"), .number("1e400"), .number("-0"),
            .number("0.5"), .number("1E-400"), .string(""), .string(String(repeating: "x", count: 300_000)),
            .string("a\u{0}b"), .string("\u{1B}]0;pwned\u{07}\u{1B}[2J"), .string("line\nforged=1"),
            .string("../../../../etc/shadow"), .string("/etc/shadow"), .string("\u{202E}gnp.exe"),
            .string("' OR 1=1; DROP TABLE vm; --"), .string(String(repeating: "é", count: 200)), .bool(true), .null,
        ]
        return values[Int(random.next() % UInt64(values.count))]
    }

    static func anyShape(_ random: inout SplitMix64) -> JSONValue {
        switch random.next() % 5 {
        case 0: .array([])
        case 1: .object([])
        case 2: .array([.int(1), .string("x"), .null])
        case 3: .object([("id", .int(7)), ("id", .string("again"))])
        default: .string("not what was expected")
        }
    }

    static func deep(_ random: inout SplitMix64) -> JSONValue {
        var value = JSONValue.int(1)
        for _ in 0..<Int(100 + random.next() % 5_000) { value = .array([value]) }
        return value
    }

    /// Replaces one value, found by a random walk from the root.
    static func replaceScalar(in value: JSONValue, with replacement: JSONValue, random: inout SplitMix64) -> JSONValue {
        switch value {
        case .object(var members) where !members.isEmpty:
            let index = Int(random.next() % UInt64(members.count))
            members[index].value =
                random.next() % 3 == 0
                ? replacement : replaceScalar(in: members[index].value, with: replacement, random: &random)
            return .object(members)
        case .array(var values) where !values.isEmpty:
            let index = Int(random.next() % UInt64(values.count))
            values[index] =
                random.next() % 3 == 0
                ? replacement : replaceScalar(in: values[index], with: replacement, random: &random)
            return .array(values)
        default:
            return replacement
        }
    }

    static func dropOrAddKey(in value: JSONValue, random: inout SplitMix64) -> JSONValue {
        switch value {
        case .object(var members):
            if !members.isEmpty, random.next() % 3 != 0 {
                let index = Int(random.next() % UInt64(members.count))
                if random.next() % 2 == 0 {
                    members.remove(at: index)
                } else {
                    members[index].value = dropOrAddKey(in: members[index].value, random: &random)
                }
            } else {
                members.append((key: "unknown\(random.next() % 100)", value: .string("extra")))
            }
            return .object(members)
        case .array(var values) where !values.isEmpty:
            let index = Int(random.next() % UInt64(values.count))
            values[index] = dropOrAddKey(in: values[index], random: &random)
            return .array(values)
        default:
            return value
        }
    }

    /// Repeats the elements of one array until it holds up to 25,000 (past every count limit).
    static func repeatArray(in value: JSONValue, random: inout SplitMix64) -> JSONValue {
        switch value {
        case .object(var members) where !members.isEmpty:
            let index = Int(random.next() % UInt64(members.count))
            members[index].value = repeatArray(in: members[index].value, random: &random)
            return .object(members)
        case .array(let values) where !values.isEmpty:
            if random.next() % 2 == 0 {
                // Up to 25,000 elements, but no more than about 20 MB of them: past the body limit is tested as well by
                // 20 MB as by 100, and writing the text is the fuzzer's own cost.
                let size = max(1, values[0].text.utf8.count)
                let count = min(Int(1_000 + random.next() % 24_000), max(values.count, 20_000_000 / size))
                return .array((0..<count).map { values[$0 % values.count] })
            }
            var values = values
            let index = Int(random.next() % UInt64(values.count))
            values[index] = repeatArray(in: values[index], random: &random)
            return .array(values)
        default:
            return value
        }
    }

    /// Damage after writing: truncation, flipped bytes, inserted bytes (invalid UTF-8 included).
    static func damage(_ bytes: [UInt8], random: inout SplitMix64) -> [UInt8] {
        guard !bytes.isEmpty else { return bytes }
        var bytes = bytes
        switch random.next() % 3 {
        case 0: bytes.removeLast(Int(random.next() % UInt64(bytes.count)))
        case 1:
            for _ in 0..<(1 + Int(random.next() % 8)) {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
        default:
            bytes.insert(contentsOf: [0xFF, 0xFE, 0x00, 0xC3], at: Int(random.next() % UInt64(bytes.count)))
        }
        return bytes
    }
}
