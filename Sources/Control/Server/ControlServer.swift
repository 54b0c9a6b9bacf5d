// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

import NIOCore
import NIOPosix

/// Where a ``ControlServer`` listens.
public enum ControlEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// A unix socket created at `path` with mode 0600, or 0660 owned by `group` (a gid) if given.
    /// A stale socket file left by a dead process is replaced; a live one is not (see
    /// ``ControlServerError/socketInUse(path:)``). The file is removed at shutdown.
    case unixSocket(path: String, group: UInt32? = nil)
    /// TCP on a loopback address only (`127.0.0.1`, `::1`, `localhost`); port 0 picks a free port.
    case tcp(host: String = "127.0.0.1", port: Int)
    /// An already bound stream socket handed over by the caller, e.g. by systemd socket activation.
    /// The server takes ownership: it listens on it and closes it at shutdown.
    case adoptedSocket(descriptor: Int32)

    public var description: String {
        switch self {
        case .unixSocket(let path, _): return "unix:\(path)"
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .adoptedSocket(let descriptor): return "inherited socket (fd \(descriptor))"
        }
    }
}

/// Something worth a log line; ``ControlServer`` reports these to its `onEvent` callback.
public enum ControlServerEvent: Sendable, CustomStringConvertible {
    /// A listener is ready; the string is the endpoint actually bound (useful with port 0).
    case listening(String)
    /// A client connected. Its peer carries the unix socket credentials where there are some.
    case connected(ControlPeer)
    /// A client's command was answered; `error` is set if the answer was an error.
    case commandFinished(ControlPeer, command: String, error: ControlError?)
    /// A connection ended; `reason` says why when the server closed it (framing abuse, a client
    /// not reading its output, an I/O error), `nil` when the client left.
    case disconnected(ControlPeer, reason: String?)

    public var description: String {
        switch self {
        case .listening(let endpoint): return "control socket listening on \(endpoint)"
        case .connected(let peer): return "\(peer) connected"
        case .commandFinished(let peer, let command, let error):
            return "\(peer) ran \(command)" + (error.map { ": \($0)" } ?? "")
        case .disconnected(let peer, let reason):
            return "\(peer) disconnected" + (reason.map { ": \($0)" } ?? "")
        }
    }
}

/// Serves the JSON control protocol (QMP wire format) on any number of endpoints.
///
/// Guarantees:
/// - Every connection gets the QMP greeting, then the session ``ControlConnectionHandler``
///   describes; many clients are served at once and none can block another: bad input earns an
///   error reply, framing abuse or unread output closes only that client's connection.
/// - Commands run on Swift tasks (see ``ControlCommand/Handler``); the network side runs on one
///   event loop taken from the group.
/// - ``events`` delivers to every negotiated client of every endpoint.
///
/// An actor: call ``listen(on:)`` and ``shutdown()`` from any task.
public actor ControlServer {
    /// Limits and identity; the defaults suit a daemon.
    public struct Configuration: Sendable {
        /// Sent in the greeting and by `query-version`.
        public var version: ControlVersion
        /// Longest accepted request line, without its newline; a longer one closes the connection.
        public var maximumMessageLength: Int = 1 << 20
        /// A connection whose unsent replies and events exceed this many bytes is closed.
        public var maximumPendingOutputBytes: Int = 8 << 20
        /// Requests a connection may have waiting behind the running one before it is no longer read.
        public var maximumQueuedRequests: Int = 8

        public init(version: ControlVersion) { self.version = version }
    }

    /// Publishes events to the negotiated clients of this server; `Sendable`, use from anywhere.
    public nonisolated let events: ControlEventBus
    private let eventLoop: any EventLoop
    private let services: ControlServices
    /// Open connections by id, and the next id; touched only on `eventLoop`.
    private let connections: NIOLoopBoundBox<ConnectionTable>
    private var listeners: [Listener] = []

    private struct Listener {
        var channel: any Channel
        var socketFile: (path: String, identity: UnixSocketFile.Identity)?
    }

    /// - Parameters:
    ///   - commands: the daemon's commands; the built-in ones are added by the server.
    ///   - eventLoopGroup: the server takes one event loop from it for listeners and connections.
    ///   - onEvent: called for every ``ControlServerEvent``, on the event loop or the calling
    ///     task; must not block.
    public init(
        commands: ControlCommandRegistry,
        configuration: Configuration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onEvent: @escaping @Sendable (ControlServerEvent) -> Void = { _ in }
    ) {
        let eventLoop = eventLoopGroup.next()
        self.eventLoop = eventLoop
        self.events = ControlEventBus(eventLoop: eventLoop)
        self.services = ControlServices(
            commands: commands, configuration: configuration, events: events, onEvent: onEvent)
        self.connections = NIOLoopBoundBox.makeBoxSendingValue(ConnectionTable(), eventLoop: eventLoop)
    }

    /// Starts listening on `endpoint` and returns the address bound (`nil` if NIO cannot tell).
    /// May be called several times for several endpoints.
    /// - Throws: ``ControlServerError``.
    @discardableResult
    public func listen(on endpoint: ControlEndpoint) async throws -> SocketAddress? {
        let bootstrap = makeBootstrap()
        let channel: any Channel
        var socketFile: (path: String, identity: UnixSocketFile.Identity)?
        switch endpoint {
        case .unixSocket(let path, let group):
            let socket = try UnixSocketFile.bind(path: path, group: group)
            do {
                channel = try await bootstrap.withBoundSocket(socket.descriptor).get()
            } catch {
                close(socket.descriptor)
                UnixSocketFile.remove(path: path, identity: socket.identity)
                throw ControlServerError.bindFailed(endpoint: endpoint.description, reason: "\(error)")
            }
            socketFile = (path, socket.identity)
        case .tcp(let host, let port):
            let address: SocketAddress
            do {
                address = try SocketAddress.makeAddressResolvingHost(host, port: port)
            } catch {
                throw ControlServerError.bindFailed(endpoint: endpoint.description, reason: "\(error)")
            }
            guard Self.isLoopback(address) else { throw ControlServerError.notLoopback(host: host) }
            do {
                channel = try await bootstrap
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .bind(to: address).get()
            } catch {
                throw ControlServerError.bindFailed(endpoint: endpoint.description, reason: "\(error)")
            }
        case .adoptedSocket(let descriptor):
            do {
                channel = try await bootstrap.withBoundSocket(descriptor).get()
            } catch {
                throw ControlServerError.bindFailed(endpoint: endpoint.description, reason: "\(error)")
            }
        }
        listeners.append(Listener(channel: channel, socketFile: socketFile))
        let bound: String
        if case .tcp = endpoint, let address = channel.localAddress, let ip = address.ipAddress, let port = address.port {
            bound = ControlEndpoint.tcp(host: ip, port: port).description
        } else {
            bound = endpoint.description
        }
        services.onEvent(.listening(bound))
        return channel.localAddress
    }

    /// The largest output and request backlog any connection has had so far: what the limits in
    /// ``Configuration`` bound, for tests and diagnostics.
    public func highWaterMarks() async -> ControlHighWaterMarks {
        let recorder = services.highWaterMarks
        // If the loop has shut down, nothing writes the marks any more and they can be read here.
        return (try? await eventLoop.submit { recorder.marks }.get()) ?? recorder.marks
    }

    /// How many client connections are open now (accepted or served), negotiated or not.
    public func openConnections() async -> Int {
        let connections = self.connections
        return (try? await eventLoop.submit { connections.value.channels.count }.get()) ?? 0
    }

    /// Stops listening (removing the unix socket files it created) and closes every connection.
    /// Commands still running finish; their replies are dropped.
    public func shutdown() async {
        let listeners = self.listeners
        self.listeners = []
        for listener in listeners {
            try? await listener.channel.close()
            if let file = listener.socketFile { UnixSocketFile.remove(path: file.path, identity: file.identity) }
        }
        let connections = self.connections
        let open = (try? await eventLoop.submit { Array(connections.value.channels.values) }.get()) ?? []
        for channel in open { try? await channel.close() }
    }

    /// Serves one already connected stream socket (one end of a socket pair, say) as a client
    /// connection, like one accepted from a listener: greeting, negotiation, commands, events.
    /// The server takes ownership of the descriptor; the returned future completes when the
    /// connection closes.
    /// - Throws: ``ControlServerError/bindFailed(endpoint:reason:)`` if NIO cannot adopt it.
    public func serve(connectedSocket descriptor: Int32) async throws -> EventLoopFuture<Void> {
        let services = self.services
        let connections = self.connections
        do {
            let channel = try await ClientBootstrap(group: eventLoop)
                .channelInitializer { channel in
                    Self.initializeConnection(channel, services: services, connections: connections)
                }
                .withConnectedSocket(descriptor).get()
            return channel.closeFuture
        } catch {
            throw ControlServerError.bindFailed(endpoint: "connected socket (fd \(descriptor))", reason: "\(error)")
        }
    }

    private func makeBootstrap() -> ServerBootstrap {
        let services = self.services
        let connections = self.connections
        return ServerBootstrap(group: eventLoop)
            .serverChannelOption(.backlog, value: 64)
            .childChannelInitializer { channel in
                Self.initializeConnection(channel, services: services, connections: connections)
            }
    }

    private static func initializeConnection(
        _ channel: any Channel, services: ControlServices, connections: NIOLoopBoundBox<ConnectionTable>
    ) -> EventLoopFuture<Void> {
        let id = connections.value.open(channel)
        channel.closeFuture.whenComplete { _ in connections.value.channels[id] = nil }
        let isUnix = channel.localAddress?.protocol == .unix
        let credentials =
            isUnix ? PeerCredentials.of(channel) : channel.eventLoop.makeSucceededFuture(nil)
        return credentials.flatMapThrowing { credentials in
            let peer = ControlPeer(
                connectionID: id, address: Self.describePeer(channel, isUnix: isUnix), credentials: credentials)
            try channel.pipeline.syncOperations.addHandlers(
                ByteToMessageHandler(
                    ControlMessageDecoder(maximumMessageLength: services.configuration.maximumMessageLength)),
                ControlConnectionHandler(services: services, peer: peer))
        }
    }

    private static func describePeer(_ channel: any Channel, isUnix: Bool) -> String {
        if isUnix { return "unix:" + (channel.localAddress?.pathname ?? "socket") }
        guard let remote = channel.remoteAddress, let ip = remote.ipAddress, let port = remote.port else {
            return "unknown address"
        }
        return ControlEndpoint.tcp(host: ip, port: port).description
    }

    private static func isLoopback(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let v4): return UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 24 == 127
        case .v6: return address.ipAddress == "::1"
        case .unixDomainSocket: return false
        }
    }
}

/// A server's open connections. Only touched on the server's event loop.
struct ConnectionTable {
    private(set) var nextID = 1
    var channels: [Int: any Channel] = [:]

    mutating func open(_ channel: any Channel) -> Int {
        let id = nextID
        nextID += 1
        channels[id] = channel
        return id
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
