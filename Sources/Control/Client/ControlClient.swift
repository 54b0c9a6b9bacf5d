// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

import NIOCore
import NIOPosix

/// Why a ``ControlClient`` could not talk to the server (as opposed to an error reply, which is a
/// ``ControlError``).
public enum ControlClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case connectFailed(endpoint: String, reason: String)
    /// The server sent nothing within the timeout after the connection was made.
    case noGreeting(endpoint: String)
    /// The first line was not a QMP greeting: this is not a control socket.
    case notAControlSocket(endpoint: String, firstLine: String)
    /// The connection ended before the reply arrived.
    case connectionClosed

    public var description: String {
        switch self {
        case .connectFailed(let endpoint, let reason):
            return "cannot connect to the emud control socket at \(endpoint): \(reason); "
                + "is emud running, and is this the socket it was started with?"
        case .noGreeting(let endpoint):
            return "\(endpoint) accepted the connection but sent no QMP greeting; is it an emud control socket?"
        case .notAControlSocket(let endpoint, let firstLine):
            return "\(endpoint) is not a QMP control socket: its first line was \(firstLine.prefix(200))"
        case .connectionClosed:
            return "the control connection closed before the reply arrived; see emud's log for why"
        }
    }
}

/// A QMP client: the other end of ``ControlServer``, used by `emud ctl` and by tests.
///
/// Guarantees: ``connect(unixSocketPath:negotiate:greetingTimeout:eventLoopGroup:)`` returns
/// only after the greeting arrived and, unless told otherwise, `qmp_capabilities` succeeded.
/// ``execute(_:arguments:)`` may be called concurrently from many tasks; each call gets its own
/// reply, matched by a request id the client assigns. Events arrive on ``events`` in order; if
/// nobody consumes them, only the newest ``eventBufferSize`` are kept.
///
/// `Sendable`: use from any task.
public final class ControlClient: Sendable {
    /// Events kept for a consumer that has fallen behind.
    public static let eventBufferSize = 4096

    /// The `QMP` member of the server's greeting: `{"version": ..., "capabilities": [...]}`.
    public let greeting: JSONValue
    /// The server's events, finishing when the connection closes. Iterate it from one task.
    public let events: AsyncStream<ControlEvent>
    private let channel: any Channel

    private init(greeting: JSONValue, events: AsyncStream<ControlEvent>, channel: any Channel) {
        self.greeting = greeting
        self.events = events
        self.channel = channel
    }

    /// Connects to a unix socket, reads the greeting and, if `negotiate`, leaves negotiation mode.
    /// - Throws: ``ControlClientError``, or ``ControlError`` if negotiation is refused.
    /// `onEvent`: as for ``connect(connectedSocket:negotiate:greetingTimeout:eventLoopGroup:onEvent:)``.
    public static func connect(
        unixSocketPath path: String,
        negotiate: Bool = true,
        greetingTimeout: TimeAmount = .seconds(10),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onEvent: (@Sendable (ControlEvent) -> Void)? = nil
    ) async throws -> ControlClient {
        try await connect(
            endpoint: "unix:\(path)", negotiate: negotiate, greetingTimeout: greetingTimeout, group: eventLoopGroup,
            onEvent: onEvent
        ) { $0.connect(unixDomainSocketPath: path) }
    }

    /// Connects over TCP; otherwise like ``connect(unixSocketPath:negotiate:greetingTimeout:eventLoopGroup:)``.
    public static func connect(
        host: String,
        port: Int,
        negotiate: Bool = true,
        greetingTimeout: TimeAmount = .seconds(10),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ControlClient {
        try await connect(
            endpoint: ControlEndpoint.tcp(host: host, port: port).description, negotiate: negotiate,
            greetingTimeout: greetingTimeout, group: eventLoopGroup
        ) { $0.connect(host: host, port: port) }
    }

    /// Talks over an already connected stream socket (one end of a socket pair, say), which the
    /// client then owns; otherwise like ``connect(unixSocketPath:negotiate:greetingTimeout:eventLoopGroup:)``.
    ///
    /// `onEvent`, if given, sees every event on the connection's event loop as it arrives, before any
    /// reply that follows it on the wire completes: a relay that must keep the server's order of events
    /// and replies uses it. It must not block.
    public static func connect(
        connectedSocket descriptor: Int32,
        negotiate: Bool = true,
        greetingTimeout: TimeAmount = .seconds(10),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onEvent: (@Sendable (ControlEvent) -> Void)? = nil
    ) async throws -> ControlClient {
        try await connect(
            endpoint: "connected socket (fd \(descriptor))", negotiate: negotiate, greetingTimeout: greetingTimeout,
            group: eventLoopGroup, onEvent: onEvent
        ) { $0.withConnectedSocket(descriptor) }
    }

    private static func connect(
        endpoint: String,
        negotiate: Bool,
        greetingTimeout: TimeAmount,
        group: any EventLoopGroup,
        onEvent: (@Sendable (ControlEvent) -> Void)? = nil,
        _ open: (ClientBootstrap) -> EventLoopFuture<any Channel>
    ) async throws -> ControlClient {
        let eventLoop = group.next()
        let greeting = eventLoop.makePromise(of: JSONValue.self)
        let (events, continuation) = AsyncStream.makeStream(
            of: ControlEvent.self, bufferingPolicy: .bufferingNewest(eventBufferSize))
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(ControlMessageDecoder(maximumMessageLength: 64 << 20)),
                        ControlClientHandler(
                            endpoint: endpoint, greeting: greeting, events: continuation, onEvent: onEvent))
                }
            }
        let channel: any Channel
        do {
            channel = try await open(bootstrap).get()
        } catch {
            greeting.fail(ControlClientError.connectionClosed)
            continuation.finish()
            throw ControlClientError.connectFailed(endpoint: endpoint, reason: "\(error)")
        }
        let timeout = eventLoop.scheduleTask(in: greetingTimeout) {
            greeting.fail(ControlClientError.noGreeting(endpoint: endpoint))
        }
        let client: ControlClient
        do {
            let qmp = try await greeting.futureResult.get()
            timeout.cancel()
            client = ControlClient(greeting: qmp, events: events, channel: channel)
        } catch {
            timeout.cancel()
            try? await channel.close()
            throw error
        }
        if negotiate {
            do {
                _ = try await client.execute("qmp_capabilities")
            } catch {
                await client.close()
                throw error
            }
        }
        return client
    }

    /// Runs a command and returns its `return` value.
    /// - Throws: ``ControlError`` carrying the server's error class and message, or
    ///   ``ControlClientError/connectionClosed``.
    public func execute(_ command: String, arguments: [String: JSONValue] = [:]) async throws -> JSONValue {
        let reply = channel.eventLoop.makePromise(of: JSONValue.self)
        let request = ControlClientHandler.Request(command: command, arguments: arguments, reply: reply)
        channel.writeAndFlush(request).whenFailure { _ in reply.fail(ControlClientError.connectionClosed) }
        return try await reply.futureResult.get()
    }

    /// Closes the connection; pending ``execute(_:arguments:)`` calls fail and ``events`` finishes.
    public func close() async {
        try? await channel.close()
    }
}

/// Matches replies to requests by id and routes events. Lives on its channel's event loop.
final class ControlClientHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Request
    typealias OutboundOut = ByteBuffer

    struct Request: Sendable {
        var command: String
        var arguments: [String: JSONValue]
        var reply: EventLoopPromise<JSONValue>
    }

    private let endpoint: String
    private let greeting: EventLoopPromise<JSONValue>
    private let events: AsyncStream<ControlEvent>.Continuation
    private let onEvent: (@Sendable (ControlEvent) -> Void)?
    private var greeted = false
    private var nextID = 1
    private var pending: [Int: EventLoopPromise<JSONValue>] = [:]

    init(
        endpoint: String, greeting: EventLoopPromise<JSONValue>, events: AsyncStream<ControlEvent>.Continuation,
        onEvent: (@Sendable (ControlEvent) -> Void)? = nil
    ) {
        self.endpoint = endpoint
        self.onEvent = onEvent
        self.greeting = greeting
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = Self.unwrapInboundIn(data)
        let text = String(buffer: line)
        guard case .object(let message)? = try? JSONValue(parsing: text) else {
            if !greeted { fail(context: context, .notAControlSocket(endpoint: endpoint, firstLine: text)) }
            return  // a server may add blank or unknown lines; nothing to match them to
        }
        if !greeted {
            greeted = true
            guard let qmp = message["QMP"] else {
                fail(context: context, .notAControlSocket(endpoint: endpoint, firstLine: text))
                return
            }
            greeting.succeed(qmp)
            return
        }
        if let event = ControlEvent(message) {
            if let onEvent {
                onEvent(event)
                return
            }
            events.yield(event)
            return
        }
        guard let id = message["id"]?.intValue, let reply = pending.removeValue(forKey: id) else { return }
        if let value = message["return"] {
            reply.succeed(value)
        } else {
            let error = message["error"]
            reply.fail(
                ControlError(
                    ControlErrorClass(rawValue: error?["class"]?.stringValue ?? "GenericError"),
                    error?["desc"]?.stringValue ?? "the server sent an error without a description"))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        let id = nextID
        nextID += 1
        pending[id] = request.reply
        let line = ControlRequest.serialized(command: request.command, arguments: request.arguments, id: .int(id)) + "\n"
        context.write(Self.wrapOutboundOut(ByteBuffer(string: line)), promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        greeting.fail(ControlClientError.connectionClosed)
        let pending = self.pending
        self.pending = [:]
        for reply in pending.values { reply.fail(ControlClientError.connectionClosed) }
        events.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func fail(context: ChannelHandlerContext, _ error: ControlClientError) {
        greeting.fail(error)
        context.close(promise: nil)
    }
}
