import ChainModel

/// A fingerprint of what an owner reported about a VM (everything but owner and epoch), so that a report that changes
/// nothing for a VM costs one row update instead of rewriting its checkpoints, files and chains.
///
/// 64-bit FNV-1a over a length-prefixed serialisation: a change detector, stable across processes and releases, not a
/// security boundary (an agent can only ever describe its own VMs).
struct InventoryDigest {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    static func of(_ vm: VM) -> String {
        var digest = InventoryDigest()
        digest.add(vm.name)
        digest.add(vm.state.rawValue)
        digest.add(vm.highlyAvailable ? 1 : 0)
        digest.add(Int64(vm.memoryMiB))
        digest.add(vm.metadata?.reportedDigest)
        digest.add(Int64(vm.checkpoints.count))
        for checkpoint in vm.checkpoints {
            digest.add(checkpoint.id.rawValue)
            digest.add(checkpoint.name)
            digest.add(checkpoint.parent?.rawValue)
            digest.add(checkpoint.created?.millisecondsSinceEpoch)
        }
        digest.add(Int64(vm.files.count))
        for file in vm.files {
            digest.add(file.location.key)
            digest.add(file.path)
            digest.add(file.kind.rawValue)
            digest.add(file.format?.rawValue)
            digest.add(file.size)
            digest.add(file.identifier)
            digest.add(file.checkpoint?.rawValue)
            digest.add(file.problem?.rawValue)
            digest.add(file.problemDetail)
        }
        digest.add(Int64(vm.nextFiles.count))
        for next in vm.nextFiles {
            digest.add(next.role.rawValue)
            digest.add(next.path)
            digest.add(next.location.key)
        }
        digest.add(vm.mergePending ? 1 : 0)
        digest.add(Int64(vm.chains.count))
        for chain in vm.chains {
            digest.add(chain.checkpoint?.rawValue)
            digest.add(Int64(chain.elements.count))
            for element in chain.elements { digest.add(element.key) }
        }
        let hex = String(digest.state, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    private mutating func byte(_ value: UInt8) {
        state ^= UInt64(value)
        state &*= 0x0000_0100_0000_01b3
    }

    private mutating func add(_ value: Int64?) {
        guard let value else { return byte(0) }
        byte(1)
        for shift in stride(from: 0, to: 64, by: 8) { byte(UInt8(truncatingIfNeeded: value >> Int64(shift))) }
    }

    private mutating func add(_ text: String?) {
        guard let text else { return byte(0) }
        byte(2)
        add(Int64(text.utf8.count))
        for unit in text.utf8 { byte(unit) }
    }
}
