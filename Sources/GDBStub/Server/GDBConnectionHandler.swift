// emud: the GDB remote protocol. GPL-2.0-or-later.

import NIOCore

/// Binds one connection to one ``GDBSession``: bytes in, bytes out, stops from the target hopped onto
/// the event loop. Lives on the server's event loop only.
final class GDBConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let target: any DebugTarget
    private let packetSize: Int
    private let peer: String
    private let slot: NIOLoopBoundBox<ConnectionSlot>
    private let onEvent: @Sendable (GDBServerEvent) -> Void
    private var context: ChannelHandlerContext?
    private var session: GDBSession?
    private var closing = false
    private var sessionError: SessionError?

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
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        // The target reports from its own threads; the session is only touched on the loop.
        // A report for a connection that has ended finds no session and is dropped.
        let reporter = StopReporter { reason in
            loop.execute { handler.value.deliver(reason) }
        }
        session = GDBSession(target: target, reporter: reporter, packetSize: packetSize)
        onEvent(.clientConnected(peer))
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session, !closing else { return }
        let buffer = unwrapInboundIn(data)
        let output = buffer.withUnsafeReadableBytes { session.receive($0) }
        write(output)
    }

    func channelInactive(context: ChannelHandlerContext) {
        session?.end()
        session = nil
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

    private func write(_ output: SessionOutput) {
        guard let context else { return }
        if let error = output.error { sessionError = error }
        if !output.bytes.isEmpty {
            let buffer = context.channel.allocator.buffer(bytes: output.bytes)
            if output.shouldClose {
                closing = true
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
                return
            }
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        if output.shouldClose {
            closing = true
            context.close(promise: nil)
        }
    }
}

/// Answers a connection that arrives while another debugger is attached: acknowledges its first
/// packet, replies with an `E.` error packet whose text says what happened, and closes. Waiting for
/// that first packet means gdb has finished writing, so it reads the reply instead of a reset
/// connection. A client that sends nothing is closed after a few seconds.
final class RefusalHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let message = "E.another debugger is attached to this machine; only one gdb connection at a time"
    static let patience = TimeAmount.seconds(5)

    private var decoder = PacketDecoder()
    private var answered = false
    private var timeout: Scheduled<Void>?

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        timeout = context.eventLoop.scheduleTask(in: Self.patience) { channel.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { decoder.feed($0) }
        while let event = decoder.next() {
            switch event {
            case .packet, .rejected, .badChecksum:
                answered = true
                let reply = [UInt8(ascii: "+")] + PacketEncoder.encode(Self.message)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: reply))).whenComplete { _ in
                    channel.close(promise: nil)
                }
                return
            case .acknowledged, .retransmitRequested, .interrupt:
                continue
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
