import ClusterEtcd
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 21: a write etcd did not confirm is "uncertain" (it may still be applied), never "refused" or "unavailable".
///
/// A read, or a write that never left this machine, is "unavailable". Against a scripted member over real loopback HTTP,
/// since a real etcd cannot be made to time out on demand.
@Suite struct UncertainWriteTests {
    /// A one-port HTTP server that answers every request the way `answer` says (`nil`: read it and never answer; that
    /// connection stays open until the test process ends).
    final class ScriptedMember: Sendable {
        let port: Int
        private let listener: Int32

        init(answer: @escaping @Sendable (String) -> String?) throws {
            let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                    bind(listener, pointer, length) == 0 && listen(listener, 16) == 0
                        && getsockname(listener, pointer, &length) == 0
                }
            }
            guard bound else { throw POSIXError(.EADDRNOTAVAIL) }
            port = Int(UInt16(bigEndian: address.sin_port))
            self.listener = listener
            Thread.detachNewThread {
                while true {
                    let connection = accept(listener, nil, nil)
                    guard connection >= 0 else { return }
                    Thread.detachNewThread {
                        var request: [UInt8] = []
                        var buffer = [UInt8](repeating: 0, count: 65536)
                        while !String(decoding: request, as: UTF8.self).contains("\r\n\r\n") {
                            let count = recv(connection, &buffer, buffer.count, 0)
                            guard count > 0 else { return }
                            request += buffer[..<count]
                        }
                        let head = String(decoding: request, as: UTF8.self)
                        let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                        guard let body = answer(path) else { return }
                        let status = body.contains("\"error\"") ? "503 Service Unavailable" : "200 OK"
                        let response =
                            "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)"
                            + "\r\nConnection: close\r\n\r\n\(body)"
                        _ = response.withCString { send(connection, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                        close(connection)
                    }
                }
            }
        }

        deinit {
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
        }

        var url: String { "http://127.0.0.1:\(port)" }
    }

    static let timedOut =
        #"{"error":"etcdserver: request timed out","code":14,"message":"etcdserver: request timed out"}"#
    static let noLeader = #"{"error":"etcdserver: no leader","code":14,"message":"etcdserver: no leader"}"#

    @Test func aWriteTheMemberTimedOutOnIsUncertainAndAReadIsUnavailable() async throws {
        let member = try ScriptedMember { _ in Self.timedOut }
        let client = EtcdClient(endpoints: [member.url], timeout: .seconds(2))
        let write = await #expect(throws: EtcdError.self) { try await client.put("k", [1]) }
        #expect(write?.code == .uncertain, "\(String(describing: write))")
        let read = await #expect(throws: EtcdError.self) { _ = try await client.get("k") }
        #expect(read?.code == .unavailable, "\(String(describing: read))")
    }

    @Test func aWriteNoMemberAnsweredInTimeIsUncertain() async throws {
        let member = try ScriptedMember { _ in nil }
        let client = EtcdClient(endpoints: [member.url], timeout: .milliseconds(500))
        let error = await #expect(throws: EtcdError.self) { try await client.put("k", [1]) }
        #expect(error?.code == .uncertain, "\(String(describing: error))")
    }

    @Test func aWriteRefusedForWantOfALeaderOrNeverSentIsUnavailable() async throws {
        let member = try ScriptedMember { _ in Self.noLeader }
        let refusing = EtcdClient(endpoints: [member.url], timeout: .seconds(2))
        let refused = await #expect(throws: EtcdError.self) { try await refusing.put("k", [1]) }
        #expect(refused?.code == .unavailable, "\(String(describing: refused))")
        // Nothing listens on this port: the request never left.
        let closed = try ScriptedMember { _ in nil }
        let port = closed.port
        _ = consume closed
        let nobody = EtcdClient(endpoints: ["http://127.0.0.1:\(port)"], timeout: .seconds(2))
        let unsent = await #expect(throws: EtcdError.self) { try await nobody.put("k", [1]) }
        #expect(unsent?.code == .unavailable, "\(String(describing: unsent))")
    }
}
