// emud: tests for the GDB remote protocol. GPL-2.0-or-later.

import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import GDBStub

/// Collects what a connection receives; thread safe.
private final class Collector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let lock = NSLock()
    private var _bytes: [UInt8] = []

    var bytes: [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        return _bytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        lock.lock()
        _bytes += buffer.readableBytesView
        lock.unlock()
    }
}

/// A raw protocol client over a real socket.
private struct TestClient {
    let channel: any Channel
    let collector: Collector

    static func connect(_ address: SocketAddress) async throws -> TestClient {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(to: address).get()
        return TestClient(channel: channel, collector: collector)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// Waits until the received text contains `expected`; returns everything received.
    @discardableResult
    func wait(for expected: String, seconds: Double = 10) async throws -> String {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            let received = text(collector.bytes)
            if received.contains(expected) { return received }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("timed out waiting for \(expected); received \(text(collector.bytes))")
        return text(collector.bytes)
    }

    /// True if the server closes the connection within `seconds`.
    func waitForClose(seconds: Double = 10) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if !channel.isActive { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    func close() async {
        try? await channel.close()
    }
}

/// Polls `condition` until it holds or `seconds` pass.
func eventually(seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

private final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _events: [GDBServerEvent] = []
    var events: [GDBServerEvent] {
        lock.lock()
        defer { lock.unlock() }
        return _events
    }
    func record(_ event: GDBServerEvent) {
        lock.lock()
        _events.append(event)
        lock.unlock()
    }
}

@Suite("GDBServer")
struct GDBServerTests {
    @Test func oneClientAtATimeOverTCP() async throws {
        let target = FakeTarget()
        let log = EventLog()
        let server = GDBServer(
            endpoint: .tcp(host: "127.0.0.1", port: 0), target: target, onEvent: { log.record($0) })
        let address = try #require(try await server.start())

        let first = try await TestClient.connect(address)
        try await first.send(Array("+".utf8) + frame("qSupported:multiprocess+;swbreak+"))
        try await first.wait(for: "multiprocess+#")
        try await first.send(Array("+".utf8))
        #expect(target.attaches == 1)

        // A second debugger is refused with a message and closed; the first is untouched.
        let second = try await TestClient.connect(address)
        try await second.send(frame("qSupported:multiprocess+"))
        let refusal = try await second.wait(for: "one gdb connection at a time")
        #expect(refusal.hasPrefix("+$E.another debugger is attached"))
        #expect(await second.waitForClose())
        #expect(target.attaches == 1)

        try await first.send(frame("?"))
        try await first.wait(for: "$T05thread:p1.1;#")
        try await first.send(Array("+".utf8) + frame("vCont;c"))
        #expect(await eventually { target.resumes.count == 1 })
        // The target reports from one of its own threads.
        let reporter = try #require(target.reporter)
        Thread.detachNewThread { reporter.targetStopped(.softwareBreakpoint(thread: 1)) }
        try await first.wait(for: "$T05thread:p1.1;swbreak:;#0a")
        try await first.send(Array("+".utf8))

        await first.close()
        #expect(await eventually { target.detaches == 1 })
        reporter.targetStopped(.softwareBreakpoint(thread: 1))  // stale: dropped

        // The seat is free again.
        let third = try await TestClient.connect(address)
        try await third.send(frame("qC"))
        try await third.wait(for: "$QC1#")
        #expect(target.attaches == 2)

        await server.stop()
        #expect(await third.waitForClose())
        #expect(await eventually { target.detaches == 2 })
        let events = log.events
        #expect(events.first.map { if case .listening = $0 { true } else { false } } == true)
        #expect(events.contains { if case .clientRefused = $0 { true } else { false } })
        #expect(events.filter { if case .clientConnected = $0 { true } else { false } }.count == 2)
    }

    @Test func unixSocket() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emud-gdb-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // A socket file left behind by an earlier server is replaced.
        let earlier = GDBServer(endpoint: .unix(path: path), target: FakeTarget())
        try await earlier.start()
        await earlier.stop()
        let target = FakeTarget()
        let server = GDBServer(endpoint: .unix(path: path), target: target)
        try await server.start()
        let client = try await TestClient.connect(try SocketAddress(unixDomainSocketPath: path))
        try await client.send(frame("qSupported:multiprocess+"))
        try await client.wait(for: "PacketSize=4000")
        try await client.send(Array("+".utf8) + frame("D;1"))
        try await client.wait(for: "$OK#9a")
        try await client.send(Array("+".utf8))
        #expect(await client.waitForClose())
        #expect(target.detaches == 1)
        await server.stop()
    }

    @Test func bindFailureIsReported() async throws {
        let first = GDBServer(endpoint: .tcp(host: "127.0.0.1", port: 0), target: FakeTarget())
        let address = try #require(try await first.start())
        let port = try #require(address.port)
        let second = GDBServer(endpoint: .tcp(host: "127.0.0.1", port: port), target: FakeTarget())
        await #expect(throws: GDBServerError.self) { try await second.start() }
        await first.stop()
    }

    @Test func refusedClientThatSendsNothingIsDroppedAfterAWhile() async throws {
        let server = GDBServer(endpoint: .tcp(host: "127.0.0.1", port: 0), target: FakeTarget())
        let address = try #require(try await server.start())
        let first = try await TestClient.connect(address)
        try await first.send(frame("qC"))
        try await first.wait(for: "$QC1#")
        let silent = try await TestClient.connect(address)
        #expect(await silent.waitForClose(seconds: 10))
        #expect(first.channel.isActive)
        await server.stop()
    }

    /// Issue 12, item 11: a client that connects and closes without a byte held the seat until its end
    /// was processed, and the debugger right behind it was refused as "another debugger".
    @Test func aConnectionThatClosesAtOnceDoesNotTurnTheNextDebuggerAway() async throws {
        let target = FakeTarget()
        let server = GDBServer(endpoint: .tcp(host: "127.0.0.1", port: 0), target: target)
        let address = try #require(try await server.start())
        for round in 0..<50 {
            let quitter = try await TestClient.connect(address)
            await quitter.close()
            let debugger = try await TestClient.connect(address)
            try await debugger.send(Array("+".utf8) + frame("qSupported"))
            let reply = try await debugger.wait(for: "PacketSize=", seconds: 5)
            #expect(!reply.contains("another debugger"), "round \(round): \(reply)")
            await debugger.close()
            if !reply.contains("PacketSize=") { break }
        }
        // A second debugger while one is truly attached is still refused.
        let first = try await TestClient.connect(address)
        try await first.send(frame("qC"))
        try await first.wait(for: "$QC1#")
        let second = try await TestClient.connect(address)
        try await second.send(frame("qC"))
        try await second.wait(for: "one gdb connection at a time")
        #expect(await second.waitForClose())
        #expect(first.channel.isActive)
        await server.stop()
    }

    /// Issue 12, item 6: a client in no-ack mode that pipelines big reads and never reads the replies
    /// made the stub queue replies without bound. Output waiting to be sent stays under the limit, and
    /// the server takes the next debugger once that one leaves.
    @Test func aClientThatStopsReadingIsNotBufferedWithoutBound() async throws {
        let server = GDBServer(endpoint: .tcp(host: "127.0.0.1", port: 0), target: FakeTarget())
        let address = try #require(try await server.start())
        // A client that never reads: its socket's receive buffer fills, then the server's.
        let flooder = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: false)
            .connect(to: address).get()
        flooder.writeAndFlush(flooder.allocator.buffer(bytes: frame("QStartNoAckMode") + Array("+".utf8)), promise: nil)
        let read = frame("m40000000,800")  // 4 KiB of reply for 18 bytes of request
        let batch = [UInt8](Array(repeating: read, count: 1000).joined())
        let deadline = ContinuousClock.now + .seconds(3)
        var sent = 0
        while ContinuousClock.now < deadline, sent < 40 {
            // Not awaited: once the server stops reading, these wait in the client.
            flooder.writeAndFlush(flooder.allocator.buffer(bytes: batch), promise: nil)
            sent += 1
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .seconds(1))
        let highWater = try await server.pendingOutputHighWater()
        #expect(highWater > 0)
        #expect(highWater <= GDBConnectionHandler.outputLimit, "\(highWater) bytes of replies queued")
        try? await flooder.close()

        let next = try await TestClient.connect(address)
        try await next.send(frame("qC"))
        try await next.wait(for: "$QC1#")
        await server.stop()
    }

    /// The connection handler in an EmbeddedChannel: input one byte at a time, stops through the
    /// reporter, and detach on close.
    @Test func connectionHandlerByteAtATime() async throws {
        let loop = EmbeddedEventLoop()
        let target = FakeTarget()
        let slot = NIOLoopBoundBox.makeBoxSendingValue(ConnectionSlot(), eventLoop: loop)
        let handler = GDBConnectionHandler(
            target: target, packetSize: GDBSession.defaultPacketSize, peer: "test", slot: slot, onEvent: { _ in })
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        #expect(target.attaches == 1)

        func output() throws -> String {
            var bytes: [UInt8] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
            return text(bytes)
        }
        for byte in frame("qSupported:multiprocess+;swbreak+") {
            try channel.writeInbound(channel.allocator.buffer(bytes: [byte]))
        }
        #expect(try output().hasPrefix("+$PacketSize=4000;"))
        for byte in Array("+".utf8) + frame("vCont;c") {
            try channel.writeInbound(channel.allocator.buffer(bytes: [byte]))
        }
        #expect(try output() == "+")
        #expect(target.resumes.count == 1)
        try channel.writeInbound(channel.allocator.buffer(bytes: [0x03]))
        #expect(target.interrupts == 1)
        target.reporter?.targetStopped(.signal(.interrupt, thread: 2))
        loop.run()
        #expect(try output() == "$T02thread:p1.2;#a4")

        _ = try? channel.finish()
        #expect(target.detaches == 1)
    }
}
