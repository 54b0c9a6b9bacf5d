// emud: the GDB remote protocol. GPL-2.0-or-later.

import NIOCore

/// Binds one connection to one ``GDBSession``: bytes in, bytes out, stops from the target hopped onto
/// the event loop. Lives on the server's event loop only.
///
/// Output is bounded. Input is handed to the session a few bytes at a time and only while the channel
/// is writable; while it is not, the rest of the input waits here and no more is read from the socket
/// (a client that stops reading its replies stops being read). Should the bytes written but not yet
/// sent still pass ``outputLimit`` (stop replies arrive without any input), the connection is closed:
/// that session ends, the server goes on.
final class GDBConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The most bytes a connection may have written but not yet sent before it is closed.
    static let outputLimit = 4 << 20
    /// How much input the session gets between writability checks: small enough that its replies
    /// (at most one packet each, so at most a few packets' worth) stay far below ``outputLimit``.
    static let inputSlice = 64
    /// Input received after reading was paused (the socket's pending read events): a client that
    /// keeps sending past this while its replies pile up is closed.
    static let inputLimit = 1 << 20

    private let target: any DebugTarget
    private let packetSize: Int
    private let peer: String
    private let slot: NIOLoopBoundBox<ConnectionSlot>
    private let onEvent: @Sendable (GDBServerEvent) -> Void
    private var context: ChannelHandlerContext?
    private var session: GDBSession?
    private var closing = false
    private var sessionError: SessionError?
    /// Input not yet given to the session because the channel was not writable.
    private var waitingInput: ByteBuffer?
    /// A read the pipeline asked for while input was held back; issued once the backlog is gone.
    private var readPending = false
    /// Bytes written whose write has not completed.
    private(set) var pendingOutput = 0
    /// The largest ``pendingOutput`` seen on this connection (for tests).
    private(set) var pendingOutputHighWater = 0

    init(
        target: any DebugTarget, packetSize: Int, peer: String, slot: NIOLoopBoundBox<ConnectionSlot>,
        onEvent: @escaping @Sendable (GDBServerEvent) -> Void
    ) {
        self.target = target
        self.packetSize = packetSize
        self.peer = peer
        self.slot = slot
        self.onEvent = onEvent
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Added to a connection that is already up (it waited for the seat): start now.
        if context.channel.isActive { start(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard session == nil, !closing else { return }
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        // The target reports from its own threads; the session is only touched on the loop.
        // A report for a connection that has ended finds no session and is dropped.
        let reporter = StopReporter { reason in
            loop.execute { handler.value.deliver(reason) }
        }
        session = GDBSession(target: target, reporter: reporter, packetSize: packetSize)
        onEvent(.clientConnected(peer))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard session != nil, !closing else { return }
        var buffer = unwrapInboundIn(data)
        if waitingInput == nil {
            waitingInput = buffer
        } else {
            waitingInput!.writeBuffer(&buffer)
        }
        if let waitingInput, waitingInput.readableBytes > Self.inputLimit {
            return endForOverload(context: context)
        }
        processInput(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { processInput(context: context) }
        context.fireChannelWritabilityChanged()
    }

    /// Hands waiting input to the session slice by slice while replies can still be sent; once all is
    /// consumed, reads that were held back go through.
    private func processInput(context: ChannelHandlerContext) {
        while let session, !closing, context.channel.isWritable, var input = waitingInput, input.readableBytes > 0 {
            let slice = input.readSlice(length: min(Self.inputSlice, input.readableBytes))!
            waitingInput = input.readableBytes > 0 ? input : nil
            let output = slice.withUnsafeReadableBytes { session.receive($0) }
            write(output)
        }
        if waitingInput == nil, readPending, context.channel.isWritable, !closing {
            readPending = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        if waitingInput != nil || !context.channel.isWritable {
            readPending = true
        } else {
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        session?.end()
        session = nil
        waitingInput = nil
        if let client = slot.value.client, client === context.channel {
            slot.value.client = nil
        }
        onEvent(.clientDisconnected(peer, error: sessionError))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A socket error ends this connection only; channelInactive detaches the target.
        context.close(promise: nil)
    }

    private func deliver(_ reason: StopReason) {
        guard let session, !closing else { return }
        write(session.targetStopped(reason))
    }

    private func endForOverload(context: ChannelHandlerContext) {
        closing = true
        waitingInput = nil
        sessionError = .peerStoppedReading(limit: Self.outputLimit)
        context.close(promise: nil)
    }

    private func write(_ output: SessionOutput) {
        guard let context else { return }
        if let error = output.error { sessionError = error }
        if !output.bytes.isEmpty {
            guard pendingOutput + output.bytes.count <= Self.outputLimit else {
                return endForOverload(context: context)
            }
            let count = output.bytes.count
            pendingOutput += count
            pendingOutputHighWater = max(pendingOutputHighWater, pendingOutput)
            slot.value.pendingOutputHighWater = max(slot.value.pendingOutputHighWater, pendingOutput)
            let buffer = context.channel.allocator.buffer(bytes: output.bytes)
            let promise = context.eventLoop.makePromise(of: Void.self)
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            promise.futureResult.whenComplete { _ in handler.value.pendingOutput -= count }
            if output.shouldClose {
                closing = true
                let channel = context.channel
                promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
            }
            context.writeAndFlush(wrapOutboundOut(buffer), promise: promise)
            if output.shouldClose { return }
        }
        if output.shouldClose {
            closing = true
            context.close(promise: nil)
        }
    }
}

/// Holds a connection that arrived while the debugger seat was taken, until its first packet
/// (waiting for it means gdb has finished writing, so it reads a reply instead of a reset connection).
/// Then the seat is looked at again: the holder may have released it in the meantime, or may be about
/// to, with its end not yet processed (a client that connects and closes at once is accepted just before
/// the debugger that follows it). If the seat is free, or is free after a short ``grace``, this
/// connection takes it and becomes a ``GDBConnectionHandler`` that gets every byte received so far.
/// Otherwise it acknowledges the packet, replies with an `E.` error packet whose text says what
/// happened, and closes. A client that sends nothing is closed after ``patience``.
/// Lives on the server's event loop only.
final class SeatRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let message = "E.another debugger is attached to this machine; only one gdb connection at a time"
    static let patience = TimeAmount.seconds(5)
    /// How long a held seat is given to be released before the newcomer is refused.
    static let grace = TimeAmount.milliseconds(200)
    /// Input kept while deciding; a client sending more before its first packet ends is closed.
    static let inputLimit = 1 << 20

    private let slot: NIOLoopBoundBox<ConnectionSlot>
    private let makeSessionHandler: () -> GDBConnectionHandler
    private let onRefused: () -> Void
    private var decoder = PacketDecoder()
    private var received: ByteBuffer?
    private var deciding = false
    private var timeout: Scheduled<Void>?
    private var recheck: Scheduled<Void>?

    init(
        slot: NIOLoopBoundBox<ConnectionSlot>, makeSessionHandler: @escaping () -> GDBConnectionHandler,
        onRefused: @escaping () -> Void
    ) {
        self.slot = slot
        self.makeSessionHandler = makeSessionHandler
        self.onRefused = onRefused
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context: context)
        context.fireChannelActive()
    }

    private func startTimer(context: ChannelHandlerContext) {
        guard timeout == nil else { return }
        let channel = context.channel
        timeout = context.eventLoop.scheduleTask(in: Self.patience) { channel.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        recheck?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if !deciding { buffer.withUnsafeReadableBytes { decoder.feed($0) } }
        if received == nil {
            received = buffer
        } else {
            received!.writeBuffer(&buffer)
        }
        if let received, received.readableBytes > Self.inputLimit {
            context.close(promise: nil)
            return
        }
        guard !deciding else { return }
        while let event = decoder.next() {
            switch event {
            case .packet, .rejected, .badChecksum:
                deciding = true
                if Self.seatIsFree(slot.value) {
                    takeSeat(context: context)
                } else {
                    let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                    let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                    recheck = context.eventLoop.scheduleTask(in: Self.grace) {
                        handler.value.decide(context: bound.value)
                    }
                }
                return
            case .acknowledged, .retransmitRequested, .interrupt:
                continue
            }
        }
    }

    /// True once nobody holds the seat. A holder whose connection is closing still holds it until its
    /// handler has ended its session (detaching the target), so that the next session's attach never
    /// comes before the last one's detach; the ``grace`` covers that moment.
    static func seatIsFree(_ slot: ConnectionSlot) -> Bool {
        slot.client == nil
    }

    private func decide(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        if Self.seatIsFree(slot.value) {
            takeSeat(context: context)
        } else {
            refuse(context: context)
        }
    }

    private func takeSeat(context: ChannelHandlerContext) {
        timeout?.cancel()
        slot.value.client = context.channel
        do {
            try context.pipeline.syncOperations.addHandler(makeSessionHandler(), position: .after(self))
        } catch {
            context.close(promise: nil)
            return
        }
        if let received {
            self.received = nil
            context.fireChannelRead(wrapInboundOut(received))
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func refuse(context: ChannelHandlerContext) {
        onRefused()
        received = nil
        let reply = [UInt8(ascii: "+")] + PacketEncoder.encode(Self.message)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: reply))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
