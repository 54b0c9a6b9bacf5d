// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

import NIOCore

/// What every connection of one server shares. Immutable and `Sendable`.
struct ControlServices: Sendable {
    var commands: ControlCommandRegistry
    var configuration: ControlServer.Configuration
    var events: ControlEventBus
    var onEvent: @Sendable (ControlServerEvent) -> Void
    var highWaterMarks = ControlHighWaterMarkRecorder()
}

/// The largest backlog any connection of a server has had; see ``ControlServer/highWaterMarks()``.
public struct ControlHighWaterMarks: Sendable, Equatable {
    /// Bytes of replies and events handed to a connection's channel and not yet written to its socket.
    public var pendingOutputBytes = 0
    /// Requests read from a connection and waiting behind the one it is running.
    public var queuedRequests = 0
}

/// Where the connections of one server record ``ControlHighWaterMarks``. Touched only on the
/// server's event loop (every connection handler runs there), hence unchecked.
final class ControlHighWaterMarkRecorder: @unchecked Sendable {
    var marks = ControlHighWaterMarks()
}

/// Runs the QMP session of one connection; sits after a ``ControlMessageDecoder``.
///
/// Guarantees:
/// - The greeting is the first thing written. Until `qmp_capabilities` succeeds, every other
///   command is answered with `CommandNotFound` and no events are sent.
/// - Requests are answered one at a time, in the order they arrived, each reply carrying the
///   request's `id` verbatim (none if it had none). Lines that are not valid requests get a
///   `GenericError` reply in their place and the session goes on.
/// - A client that queues more than ``ControlServer/Configuration/maximumQueuedRequests``
///   requests, or whose output is not draining, is no longer read from until that changes.
/// - A client whose unsent output (replies and events) exceeds
///   ``ControlServer/Configuration/maximumPendingOutputBytes`` is disconnected; so is one that
///   sends an over-long line, after an error reply saying why.
///
/// Lives on its channel's event loop; every method runs there. Commands run on Swift tasks
/// and their replies come back to the event loop.
final class ControlConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    /// Encoded event lines, written to the channel by ``ControlEventBus``.
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Work {
        case reply(ControlReply, id: JSONValue?)
        case request(ControlRequest)
    }

    private let services: ControlServices
    private let peer: ControlPeer
    private var started = false
    private var active = false
    private var negotiated = false
    private var executing = false
    private var queue = CircularBuffer<Work>()
    private var pendingOutputBytes = 0
    private var readHeld = false
    private var closeReason: String?

    init(services: ControlServices, peer: ControlPeer) {
        self.services = services
        self.peer = peer
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        active = true
        services.onEvent(.connected(peer))
        send(ControlGreeting.serialized(version: services.configuration.version), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if active {
            active = false
            queue.removeAll()
            if negotiated { services.events.unsubscribe(connectionID: peer.connectionID) }
            services.onEvent(.disconnected(peer, reason: closeReason))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let framing = error as? ControlFramingError {
            send(ControlReply.failure(.generic("\(framing); closing the connection")).serialized(id: nil), context: context)
            close(context: context, reason: framing.description)
        } else {
            close(context: context, reason: "\(error)")
        }
    }

    private func close(context: ChannelHandlerContext, reason: String) {
        guard closeReason == nil else { return }
        closeReason = reason
        context.close(promise: nil)
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard active, closeReason == nil else { return }
        let line = Self.unwrapInboundIn(data)
        guard let parsed = line.withUnsafeReadableBytes({ ControlRequest.parse(line: $0) }) else { return }
        switch parsed {
        case .success(let request): queue.append(.request(request))
        case .failure(let invalid): queue.append(.reply(.failure(invalid.error), id: invalid.id))
        }
        services.highWaterMarks.marks.queuedRequests = max(services.highWaterMarks.marks.queuedRequests, queue.count)
        processQueue(context: context)
    }

    private func processQueue(context: ChannelHandlerContext) {
        while !executing, active, let work = queue.popFirst() {
            switch work {
            case .reply(let reply, let id): send(reply.serialized(id: id), context: context)
            case .request(let request): dispatch(request, context: context)
            }
        }
        resumeReadingIfPossible(context: context)
    }

    private func dispatch(_ request: ControlRequest, context: ChannelHandlerContext) {
        if request.command == "qmp_capabilities" {
            finish(request, negotiate(request, context: context), context: context)
            return
        }
        guard negotiated else {
            let error = ControlError.commandNotFound(
                "'\(request.command)' is not available during capabilities negotiation; "
                    + "send {\"execute\": \"qmp_capabilities\"} first")
            finish(request, .failure(error), context: context)
            return
        }
        switch request.command {
        case "query-version":
            finish(request, noArguments(request) ?? .success(services.configuration.version.json), context: context)
        case "query-commands":
            let names = services.commands.allCommandNames.map { JSONValue.object(["name": .string($0)]) }
            finish(request, noArguments(request) ?? .success(.array(names)), context: context)
        default:
            guard let command = services.commands.command(named: request.command) else {
                let error = ControlError.commandNotFound(
                    "unknown command '\(request.command)'; query-commands lists the commands this server offers")
                finish(request, .failure(error), context: context)
                return
            }
            executing = true
            let commands = services.commands
            let peer = self.peer
            let arguments = request.arguments
            context.eventLoop.makeFutureWithTask {
                await commands.run(command, arguments: arguments, peer: peer)
            }.assumeIsolated().whenSuccess { reply in
                self.executing = false
                self.finish(request, reply, context: context)
                self.processQueue(context: context)
            }
        }
    }

    private func negotiate(_ request: ControlRequest, context: ChannelHandlerContext) -> ControlReply {
        if negotiated {
            return .failure(
                .commandNotFound("capabilities negotiation is already complete; send other commands directly"))
        }
        for key in request.arguments.keys.sorted() where key != "enable" {
            return .failure(.generic("qmp_capabilities: unexpected argument '\(key)'; it accepts enable"))
        }
        let arguments = ControlArguments(command: request.command, values: request.arguments)
        do {
            if let capability = try arguments.optionalArray("enable")?.first {
                return .failure(
                    .generic("qmp_capabilities: capability \(capability) is not available; this server offers none"))
            }
        } catch {
            return .failure(error)
        }
        negotiated = true
        services.events.subscribe(connectionID: peer.connectionID, channel: context.channel)
        return .success([:])
    }

    private func noArguments(_ request: ControlRequest) -> ControlReply? {
        guard let key = request.arguments.keys.sorted().first else { return nil }
        return .failure(.generic("\(request.command): unexpected argument '\(key)'; it takes no arguments"))
    }

    /// Logs the outcome (also when the client has left meanwhile: the command did run) and
    /// replies if the client is still there.
    private func finish(_ request: ControlRequest, _ reply: ControlReply, context: ChannelHandlerContext) {
        var error: ControlError?
        if case .failure(let failure) = reply { error = failure }
        services.onEvent(.commandFinished(peer, command: request.command, error: error))
        guard active else { return }
        send(reply.serialized(id: request.id), context: context)
    }

    // MARK: Output and backpressure

    /// Event lines from ``ControlEventBus``.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard active, negotiated, closeReason == nil else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        write(Self.unwrapOutboundIn(data), context: context, promise: promise)
    }

    private func send(_ line: String, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: line.utf8.count + 1)
        buffer.writeString(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        write(buffer, context: context, promise: nil)
        context.flush()
    }

    private func write(_ buffer: ByteBuffer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let size = buffer.readableBytes
        let limit = services.configuration.maximumPendingOutputBytes
        guard pendingOutputBytes + size <= limit else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            close(context: context, reason: "the client left more than \(limit) bytes of replies and events unread")
            return
        }
        pendingOutputBytes += size
        services.highWaterMarks.marks.pendingOutputBytes = max(services.highWaterMarks.marks.pendingOutputBytes, pendingOutputBytes)
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenComplete { _ in
            self.pendingOutputBytes -= size
        }
        if let promise { written.futureResult.cascade(to: promise) }
        context.write(Self.wrapOutboundOut(buffer), promise: written)
    }

    func read(context: ChannelHandlerContext) {
        if shouldHoldReads(context: context) {
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReadingIfPossible(context: context)
        context.fireChannelWritabilityChanged()
    }

    private func shouldHoldReads(context: ChannelHandlerContext) -> Bool {
        queue.count >= services.configuration.maximumQueuedRequests || !context.channel.isWritable
    }

    private func resumeReadingIfPossible(context: ChannelHandlerContext) {
        guard readHeld, active, !shouldHoldReads(context: context) else { return }
        readHeld = false
        context.read()
    }
}
