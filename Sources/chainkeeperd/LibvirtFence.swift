import Foundation
import LibvirtClient
import Synchronization

/// The built-in fence of a libvirt node (issue 23): hard-stops (`virDomainDestroy`) every domain the agent listed as
/// a running HA domain at its last rescan.
///
/// Only those: a domain this node runs that is not highly available is not the cluster's to restart elsewhere, so
/// fencing leaves it alone. Succeeds when none of the listed domains is still active afterwards.
enum LibvirtFence {
    static func destroy(listedIn path: String, uri: String) -> (succeeded: Bool, output: String) {
        let listed = Set(
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        )
        guard !listed.isEmpty else { return (true, "no HA domain was running at the agent's last rescan") }
        let connection: LibvirtConnection
        do {
            connection = try LibvirtConnection(uri: uri)
        } catch {
            return (false, error.message)
        }
        let domains = listed.sorted().compactMap { uuid in
            connection.domain(uuid: uuid).flatMap { (try? $0.state()).map({ $0 != .off }) == true ? $0 : nil }
        }
        // All at once: each destroy waits for its QEMU to exit, and the fence must be done before the lease ends.
        let outcomes = Mutex([String?](repeating: nil, count: domains.count))
        DispatchQueue.concurrentPerform(iterations: domains.count) { index in
            do throws(LibvirtError) {
                try domains[index].destroy()
            } catch {
                outcomes.withLock { $0[index] = error.message }
            }
        }
        let failures = outcomes.withLock { $0 }.compactMap { $0 }
        let destroyed = domains.indices.filter { outcomes.withLock { $0 }[$0] == nil }.map { domains[$0].name }.sorted()
        let summary = "destroyed \(destroyed.isEmpty ? "nothing" : destroyed.joined(separator: ", ")) on \(uri)"
        return failures.isEmpty ? (true, summary) : (false, summary + "; " + failures.joined(separator: "; "))
    }
}
