import ChainModel
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Counts a listener's open connections, in all and per peer address, and refuses those beyond `ServerLimits`.
///
/// Without it 5,000 connections that trickle a byte every 10 s stayed open for ever, and 20,000 used up the file
/// descriptors: a healthy node's heartbeats could not connect, it was declared down and failed over (issue 20).
final class ConnectionRegistry: Sendable {
    let listener: String
    let limits: ServerLimits
    let logger: Logger
    private struct Counts {
        var total = 0
        var byAddress: [String: Int] = [:]
        var refused = 0
        var lastWarning: ContinuousClock.Instant?
    }
    private let counts = Mutex(Counts())

    init(listener: String, limits: ServerLimits, logger: Logger) {
        self.listener = listener
        self.limits = limits
        self.logger = logger
    }

    /// Counts a new connection from `address`; `false` (and nothing counted) when a limit is reached.
    func open(from address: String) -> Bool {
        let (accepted, warning) = counts.withLock { counts -> (Bool, String?) in
            let fromAddress = counts.byAddress[address, default: 0]
            if counts.total < limits.connections, fromAddress < limits.connectionsPerAddress {
                counts.total += 1
                counts.byAddress[address] = fromAddress + 1
                return (true, nil)
            }
            counts.refused += 1
            let now = ContinuousClock.now
            guard counts.lastWarning.map({ now - $0 >= .seconds(10) }) ?? true else { return (false, nil) }
            counts.lastWarning = now
            let which =
                counts.total >= limits.connections
                ? "\(counts.total) connections are open (connections: \(limits.connections))"
                : "\(fromAddress) connections from \(address) are open "
                    + "(connectionsPerAddress: \(limits.connectionsPerAddress))"
            return (
                false, "refusing connections on the \(listener) listener: \(which); \(counts.refused) refused so far"
            )
        }
        if let warning { logger.warning("\(warning)") }
        return accepted
    }

    func close(from address: String) {
        counts.withLock { counts in
            counts.total -= 1
            let left = counts.byAddress[address, default: 1] - 1
            counts.byAddress[address] = left > 0 ? left : nil
        }
    }

    /// Connections open now, in all.
    var open: Int { counts.withLock { $0.total } }
}

/// In every connection's pipeline: counts it in the registry (closing it at once when a limit is reached) and cuts off
/// a request whose body has not arrived whole within `bodyTimeout` of its head.
///
/// The idle and header-read timeout is Hummingbird's `idleTimeout` (a connection whose request head has not arrived
/// whole is idle to it).
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let registry: ConnectionRegistry
    private let bodyTimeout: TimeAmount
    private var address: String?
    private var counted = false
    private var bodyDeadline: Scheduled<Void>?

    init(registry: ConnectionRegistry) {
        self.registry = registry
        bodyTimeout = .nanoseconds(Int64(registry.limits.bodyTimeout.wholeMilliseconds) * 1_000_000)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        bodyDeadline?.cancel()
        release()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            bodyDeadline?.cancel()
            bodyDeadline = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: bodyTimeout) {
                context.close(promise: nil)
            }
        case .end:
            bodyDeadline?.cancel()
            bodyDeadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !counted, address == nil else { return }
        let peer = context.channel.remoteAddress?.ipAddress ?? "unknown"
        address = peer
        if registry.open(from: peer) {
            counted = true
        } else {
            context.close(promise: nil)
        }
    }

    private func release() {
        guard counted, let address else { return }
        counted = false
        registry.close(from: address)
    }
}
