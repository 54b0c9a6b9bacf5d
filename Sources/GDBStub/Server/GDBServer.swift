// emud: the GDB remote protocol. GPL-2.0-or-later.

#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// Something worth a log line; ``GDBServer`` reports these to its `onEvent` callback.
public enum GDBServerEvent: Equatable, Sendable, CustomStringConvertible {
    /// The server is listening; the address is the one actually bound (useful with port 0).
    case listening(String)
    /// A debugger connected and the target was attached.
    case clientConnected(String)
    /// A second debugger connected while one was attached; it got an error packet and was closed.
    case clientRefused(String)
    /// The debugger's connection ended; `error` says why if the protocol broke.
    case clientDisconnected(String, error: SessionError?)

    public var description: String {
        switch self {
        case .listening(let address): return "gdb stub listening on \(address)"
        case .clientConnected(let peer): return "gdb connected from \(peer)"
        case .clientRefused(let peer):
            return "refused gdb connection from \(peer): another debugger is attached"
        case .clientDisconnected(let peer, let error):
            return "gdb from \(peer) disconnected" + (error.map { ": \($0)" } ?? "")
        }
    }
}

/// Why a server could not start.
public struct GDBServerError: Error, CustomStringConvertible {
    public var endpoint: GDBEndpoint
    public var underlying: any Error

    public var description: String {
        "cannot listen for gdb on \(endpoint): \(underlying); choose another endpoint with a free port "
            + "or a writable socket path"
    }
}

/// Serves the GDB remote protocol for one ``DebugTarget`` on one endpoint.
///
/// Guarantees:
/// - One debugger at a time. A second connection is answered, on its first packet, with an error
///   packet saying another debugger is attached, then closed; the first session is not touched. The
///   seat is decided on that first packet (after a short grace if it is still held), so a connection
///   that has just ended but whose end is not yet processed does not turn the next debugger away.
/// - Bounded output per connection: a client that stops reading its replies stops being read, and is
///   closed if replies still pile up (see ``GDBConnectionHandler``).
/// - The target is called only from this server's event loop (one thread), never concurrently:
///   ``DebugTarget/attach(reporter:)`` when a debugger connects, ``DebugTarget/detach()`` (or `kill`) when
///   it leaves or its connection drops, everything else in between.
/// - A misbehaving client ends its own session, never the server or the process.
/// - TCP connections use TCP_NODELAY: the protocol is request/response with small packets.
///
/// An actor: call ``start()`` and ``stop()`` from any task.
public actor GDBServer {
    public nonisolated let endpoint: GDBEndpoint
    private let target: any DebugTarget
    private let eventLoop: any EventLoop
    private let packetSize: Int
    private let onEvent: @Sendable (GDBServerEvent) -> Void
    private let slot: NIOLoopBoundBox<ConnectionSlot>
    private var listener: (any Channel)?

    /// - Parameters:
    ///   - eventLoopGroup: the server takes one event loop from it for the listener and all
    ///     connections.
    ///   - packetSize: the largest packet accepted from gdb (advertised as `PacketSize`).
    ///   - onEvent: called for every ``GDBServerEvent`` (on the event loop, except `.listening`, which
    ///     ``start()`` reports); must be thread safe and must not block.
    public init(
        endpoint: GDBEndpoint,
        target: any DebugTarget,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        packetSize: Int = GDBSession.defaultPacketSize,
        onEvent: @escaping @Sendable (GDBServerEvent) -> Void = { _ in }
    ) {
        self.endpoint = endpoint
        self.target = target
        self.eventLoop = eventLoopGroup.next()
        self.packetSize = packetSize
        self.onEvent = onEvent
        self.slot = NIOLoopBoundBox.makeBoxSendingValue(ConnectionSlot(), eventLoop: eventLoop)
    }

    /// Starts listening and returns the bound address. Throws ``GDBServerError`` if the endpoint
    /// cannot be bound. Calling it again while listening returns the same address.
    @discardableResult
    public func start() async throws -> SocketAddress? {
        if let listener { return listener.localAddress }
        let target = self.target
        let packetSize = self.packetSize
        let onEvent = self.onEvent
        let slot = self.slot
        let isTCP: Bool
        switch endpoint {
        case .tcp: isTCP = true
        case .unix: isTCP = false
        case .adopted(let descriptor):
            var domain: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            isTCP = getsockopt(descriptor, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 && (domain == AF_INET || domain == AF_INET6)
        }

        var bootstrap = ServerBootstrap(group: eventLoop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 4)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let peer = channel.remoteAddress.map { "\($0)" } ?? "local socket"
                    let makeSessionHandler = {
                        GDBConnectionHandler(
                            target: target, packetSize: packetSize, peer: peer, slot: slot, onEvent: onEvent)
                    }
                    if SeatRequestHandler.seatIsFree(slot.value) {
                        slot.value.client = channel
                        try channel.pipeline.syncOperations.addHandler(makeSessionHandler())
                    } else {
                        try channel.pipeline.syncOperations.addHandler(
                            SeatRequestHandler(
                                slot: slot, makeSessionHandler: makeSessionHandler,
                                onRefused: { onEvent(.clientRefused(peer)) }))
                    }
                }
            }
        if isTCP {
            bootstrap = bootstrap.childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
        }
        do {
            let channel: any Channel
            switch endpoint {
            case .tcp(let host, let port):
                channel = try await bootstrap.bind(host: host, port: port).get()
            case .unix(let path):
                channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            case .adopted(let descriptor):
                channel = try await bootstrap.withBoundSocket(descriptor).get()
            }
            listener = channel
            onEvent(.listening(channel.localAddress.map { "\($0)" } ?? endpoint.description))
            return channel.localAddress
        } catch {
            throw GDBServerError(endpoint: endpoint, underlying: error)
        }
    }

    /// Stops listening and closes the attached debugger's connection (which detaches the target).
    public func stop() async {
        guard let listener else { return }
        self.listener = nil
        try? await listener.close()
        let slot = self.slot
        let client = try? await eventLoop.submit { slot.value.client }.get()
        try? await client?.close()
    }
}

extension GDBServer {
    /// The most output any connection of this server has had written but not yet sent.
    func pendingOutputHighWater() async throws -> Int {
        let slot = self.slot
        return try await eventLoop.submit { slot.value.pendingOutputHighWater }.get()
    }
}

/// Which connection holds the debugger seat. Only touched on the server's event loop.
final class ConnectionSlot {
    var client: (any Channel)?
    /// The most output any connection has had written but not yet sent (for tests).
    var pendingOutputHighWater = 0
}
