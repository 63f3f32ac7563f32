import ChainModel
import ClusterAuthority
import ClusterEtcd
import ClusterStore
import ClusterTestSupport
import Foundation
import Synchronization

/// The two implementations of `CoordinationStore` the conformance suite runs against.
enum Backend: String, CaseIterable, CustomStringConvertible {
    case embedded
    case etcd

    var description: String { rawValue }
}

/// A fresh coordination store of one backend, with nodes node1-node3 and two VMs known to it: vm-a owned by node1 and
/// vm-b by node2, both at epoch 1.
///
/// The embedded store is a real SQLite file; the etcd one a real etcd member.
final class AuthorityFixture: Sendable {
    let backend: Backend
    let authority: any CoordinationStore
    let directory: String
    let etcd: EtcdProcess?
    /// The embedded store's time, moved by `advance`; etcd keeps real time.
    let clock = Mutex(Timestamp(secondsSinceEpoch: 1_800_000_000))

    static let first = LeaderInfo(name: "coordinator-1", url: "http://127.0.0.1:7401")
    static let second = LeaderInfo(name: "coordinator-2", url: "http://127.0.0.1:7402")
    static let vmA = VMID("vm-a")
    static let vmB = VMID("vm-b")

    init(_ backend: Backend) async throws {
        self.backend = backend
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("ck-authority-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let now = clock.withLock { $0 }
        switch backend {
        case .embedded:
            let store = try ClusterStore(path: directory + "/cluster.sqlite")
            for name in ["node1", "node2", "node3"] {
                try store.saveNode(Node(name: NodeName(name), memoryMiB: 8192), at: now)
            }
            for (id, owner) in [(Self.vmA, "node1"), (Self.vmB, "node2")] {
                try store.saveInventory(
                    of: VM(id: id, name: id.rawValue, ownership: Ownership(owner: NodeName(owner), epoch: .initial)),
                    at: now
                )
            }
            authority = EmbeddedCoordinationStore(store: store)
            etcd = nil
        case .etcd:
            let member = try EtcdProcess()
            etcd = member
            authority = EtcdCoordinationStore(
                etcd: EtcdClient(endpoints: [member.clientURL]),
                prefix: "chainkeeper/test"
            )
        }
    }

    /// Leadership for coordinator-1, then the two VMs claimed (a no-op read on the embedded store, which learnt them
    /// from its reports).
    func lead() async throws -> LeaderTerm {
        let term = try await authority.campaign(as: Self.first, ttl: .seconds(60), at: now)
        guard let term else { throw StoreError(.conflict, "coordinator-1 did not win the first election") }
        for (id, owner) in [(Self.vmA, "node1"), (Self.vmB, "node2")] {
            _ = try await authority.claim(
                id,
                name: id.rawValue,
                owner: NodeName(owner),
                epoch: .initial,
                reserved: .initial,
                term: term
            )
        }
        return term
    }

    var now: Timestamp { clock.withLock { $0 } }

    /// Lets `duration` pass: the embedded store's clock moves; etcd's leases need real time to run out.
    func advance(by duration: Duration) async throws {
        switch backend {
        case .embedded: clock.withLock { $0 = $0 + duration }
        case .etcd: try await Task.sleep(for: duration)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

/// The code of the `StoreError` `body` throws, or nil when it throws none.
func storeErrorCode(_ body: () async throws -> Void) async -> StoreError.Code? {
    do {
        try await body()
        return nil
    } catch let error as StoreError {
        return error.code
    } catch {
        return StoreError.Code(rawValue: "other: \(error)")
    }
}
