// emud: tests for the JSON control protocol. GPL-2.0-or-later.

import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Control

#if canImport(Glibc)
import Glibc
#endif

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing with ``TimedOut`` if it takes longer than `seconds`: a hung test must fail,
/// not hang CI.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            throw TimedOut(what: what)
        }
        guard let result = try await group.next() else { throw TimedOut(what: what) }
        group.cancelAll()
        return result
    }
}

/// A fresh short directory for socket files (sun_path is only 108 bytes).
func makeSocketDirectory() -> String {
    var template = Array("/tmp/emud-ctl-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String in
        guard let result = mkdtemp(buffer.baseAddress!) else { return "/tmp" }
        return String(cString: result)
    }
    return path
}

func removeDirectory(_ path: String) {
    if let directory = opendir(path) {
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { unlink(path + "/" + name) }
        }
        closedir(directory)
    }
    rmdir(path)
}

/// Collects a server's log events so tests can wait for one.
final class EventRecorder: Sendable {
    private let events = Mutex<[ControlServerEvent]>([])

    var callback: @Sendable (ControlServerEvent) -> Void {
        { event in self.events.withLock { $0.append(event) } }
    }

    var all: [ControlServerEvent] { events.withLock { $0 } }

    func waitFor(
        _ what: String, seconds: Double = 10, _ matches: @escaping @Sendable (ControlServerEvent) -> Bool
    ) async throws -> ControlServerEvent {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if let event = events.withLock({ $0.first(where: matches) }) { return event }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw TimedOut(what: what)
    }
}

let testVersion = ControlVersion(major: 1, minor: 2, micro: 3)

/// A stand-in for the daemon's commands.
func makeFakeCommands() -> ControlCommandRegistry {
    var commands = ControlCommandRegistry()
    commands.register("echo", parameters: ["value"]) { arguments, _ in
        arguments["value"] ?? .null
    }
    commands.register("sleep", parameters: ["ms"]) { arguments, _ in
        try await Task.sleep(for: .milliseconds(try arguments.int("ms", in: 0...10_000)))
        return [:]
    }
    commands.register("machine-create", parameters: ["name", "cpus", "memory"]) { arguments, _ in
        let name = try arguments.string("name")
        let cpus = try arguments.optionalInt("cpus", in: 1...8) ?? 1
        let memory = try arguments.optionalMemorySize("memory") ?? 128 << 20
        return ["name": .string(name), "cpus": .int(cpus), "memory": .int(memory)]
    }
    commands.register("machine-destroy", parameters: ["name"]) { arguments, _ in
        let name = try arguments.string("name")
        throw ControlError.deviceNotFound("machine-destroy: no machine named '\(name)'; query-machines lists them")
    }
    commands.register("explode") { _, _ in
        struct Boom: Error, CustomStringConvertible { var description: String { "disk on fire" } }
        throw Boom()
    }
    commands.register("whoami") { _, peer in
        ["pid": .int(Int(peer.credentials?.pid ?? -1)), "uid": .int(Int(peer.credentials?.uid ?? 0))]
    }
    return commands
}

/// A server on a unix socket in a fresh directory, torn down by ``stop()``.
struct TestServer {
    let server: ControlServer
    let directory: String
    let path: String
    let recorder: EventRecorder

    static func start(configure: (inout ControlServer.Configuration) -> Void = { _ in }) async throws -> TestServer {
        let directory = makeSocketDirectory()
        let path = directory + "/control.sock"
        var configuration = ControlServer.Configuration(version: testVersion)
        configure(&configuration)
        let recorder = EventRecorder()
        let server = ControlServer(
            commands: makeFakeCommands(), configuration: configuration, onEvent: recorder.callback)
        try await server.listen(on: .unixSocket(path: path))
        return TestServer(server: server, directory: directory, path: path, recorder: recorder)
    }

    func stop() async {
        await server.shutdown()
        removeDirectory(directory)
    }
}

/// A client that sends raw bytes and reads raw lines, to test what ``ControlClient`` would never send.
/// Used from one task.
final class RawConnection {
    private let channel: any Channel
    private var lines: AsyncStream<ByteBuffer>.AsyncIterator

    init(path: String) async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(ControlMessageDecoder(maximumMessageLength: 64 << 20)),
                        LineCollector(continuation))
                }
            }
            .connect(unixDomainSocketPath: path).get()
        lines = stream.makeAsyncIterator()
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    func send(bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Stops reading from the socket, so the server's output backs up.
    func stopReading() async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: false).get()
    }

    /// The next line as text, or `nil` once the server closed the connection.
    func readText(seconds: Double = 10) async throws -> String? {
        let channel = self.channel
        let deadline = Task {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            try await channel.close()
        }
        defer { deadline.cancel() }
        return await lines.next().map { String(buffer: $0) }
    }

    /// The next line parsed as JSON; fails the test if it is missing or not JSON.
    func read(sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue {
        let text = try #require(try await readText(), "connection closed", sourceLocation: sourceLocation)
        return try JSONValue(parsing: text)
    }

    /// Reads the greeting and negotiates.
    func negotiate() async throws {
        _ = try await read()
        try await send("{\"execute\":\"qmp_capabilities\"}\n")
        #expect(try await read() == ["return": [:]])
    }

    func closeNow() {
        channel.close(promise: nil)
    }
}

/// Hands each line to an AsyncStream; finishes it when the connection ends.
private final class LineCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let continuation: AsyncStream<ByteBuffer>.Continuation

    init(_ continuation: AsyncStream<ByteBuffer>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(Self.unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
