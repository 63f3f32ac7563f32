import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TCP forwarder on loopback that a test places between one agent and the coordinator, and cuts like a network
/// partition: while cut, every open connection is closed and new ones are accepted but never forwarded (their bytes are
/// read and dropped, as a black hole would), so the agent's requests time out; `heal` forwards again.
///
/// Plain sockets and threads (a proxy is test equipment, not product code): one thread accepts, two pump each
/// connection.
public final class TCPProxy: Sendable {
    public let port: Int
    private let target: Int
    private let listener: Int32
    private struct State {
        var cut = false
        var stopped = false
        /// Open connections, shut down when the link is cut or the proxy stops.
        var open: [ObjectIdentifier: Link] = [:]
    }

    /// One forwarded connection: the client's socket and the coordinator's; the second pump to end closes both.
    private final class Link: Sendable {
        let client: Int32
        let upstream: Int32
        private let ended = Mutex(0)

        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }

        func shutDown() {
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(upstream, Int32(SHUT_RDWR))
        }

        /// One direction ended; returns whether it was the last.
        func end() -> Bool {
            ended.withLock { count in
                count += 1
                return count == 2
            }
        }
    }

    private let state = Mutex(State())

    /// Listens on a free loopback port and forwards to 127.0.0.1:`target`.
    public init(forwardingTo target: Int) throws {
        self.target = target
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.EMFILE) }
        var yes: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(socket, 128) == 0 else {
            close(socket)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        listener = socket
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Cuts the link: open connections are closed, new ones go nowhere.
    public func cut() {
        let open = state.withLock { state -> [Link] in
            state.cut = true
            defer { state.open = [:] }
            return Array(state.open.values)
        }
        for link in open { link.shutDown() }
    }

    /// Forwards again (connections accepted while cut stay black holes until their client gives up).
    public func heal() {
        state.withLock { $0.cut = false }
    }

    /// Stops listening and closes everything.
    public func stop() {
        let open = state.withLock { state -> [Link] in
            state.stopped = true
            defer { state.open = [:] }
            return Array(state.open.values)
        }
        for link in open { link.shutDown() }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if state.withLock({ $0.stopped }) { return }
                continue
            }
            let cut = state.withLock { $0.cut || $0.stopped }
            if cut {
                Thread { Self.drain(client) }.start()
                continue
            }
            guard let upstream = connectUpstream() else {
                close(client)
                continue
            }
            let link = Link(client: client, upstream: upstream)
            state.withLock { $0.open[ObjectIdentifier(link)] = link }
            Thread { [self] in pump(from: client, to: upstream, link: link) }.start()
            Thread { [self] in pump(from: upstream, to: client, link: link) }.start()
        }
    }

    private func connectUpstream() -> Int32? {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(target).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(socket)
            return nil
        }
        return socket
    }

    /// Copies bytes one way until either side closes; then closes both (once).
    private func pump(from source: Int32, to destination: Int32, link: Link) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            var sent = 0
            while sent < count {
                let wrote = buffer.withUnsafeBytes {
                    Glibc.send(destination, $0.baseAddress.map { $0 + sent }, count - sent, Int32(MSG_NOSIGNAL))
                }
                guard wrote > 0 else { break }
                sent += wrote
            }
            guard sent == count else { break }
        }
        link.shutDown()
        guard link.end() else { return }
        state.withLock { $0.open[ObjectIdentifier(link)] = nil }
        close(link.client)
        close(link.upstream)
    }

    /// Reads and drops everything a client sends while the link is cut, until it gives up.
    private static func drain(_ socket: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ recv(socket, $0.baseAddress, $0.count, 0) }) > 0 {}
        close(socket)
    }
}
