import Foundation
import NIOCore
import NIOPosix

/// A daemon machine's console as the daemon keeps it, whatever happens to the machine's worker: the ring that
/// `console-read` reads, and the log file, the daemon's stdout or the unix socket that the machine's spec names.
///
/// Output arrives from the worker's connection (``output(_:)``, any thread) and never blocks: a socket client
/// that cannot take bytes now misses them, a log write that fails is skipped. Input from socket clients goes to
/// ``input``, at most a few writes in flight per client (its reads pause until they are done).
final class ConsoleSinks: @unchecked Sendable {
    let ring = ConsoleRing()
    let target: ConsoleTarget
    /// Delivers bytes a socket client typed to the machine; completes when they are delivered.
    var input: @Sendable ([UInt8]) async -> Void = { _ in }
    /// At most this many clients on a machine's console socket at once; more are refused.
    static let maximumClients = 16

    private let lock = NSLock()
    private var log: Int32 = -1
    private var listener: (any Channel)?
    /// The socket file this machine bound (device, inode), so that closing removes it and nothing else.
    private var socketIdentity: (dev_t, ino_t)?
    private var clients: [ObjectIdentifier: any Channel] = [:]

    init(target: ConsoleTarget) { self.target = target }

    /// Opens the log file or starts listening on the socket.
    func open(eventLoopGroup: any EventLoopGroup) async throws {
        switch target {
        case .ring, .stdout: break
        case .file(let path):
            let fd = try openConsoleLog(path)
            lock.withLock { log = fd }
        case .unixSocket(let path):
            let (fd, identity) = try listenConsoleSocket(path: path)
            do {
                let channel = try await ServerBootstrap(group: eventLoopGroup)
                    .childChannelInitializer { [weak self] channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(ConsoleClientHandler(sinks: self))
                        }
                    }
                    .withBoundSocket(fd).get()
                lock.withLock {
                    listener = channel
                    socketIdentity = identity
                }
            } catch {
                Glibc.close(fd)
                Self.removeSocket(path: path, identity: identity)
                throw DaemonError.generic("cannot serve console socket \(path): \(error)")
            }
        }
    }

    func output(_ bytes: [UInt8]) {
        ring.append(bytes)
        let (fd, channels) = lock.withLock { (log, Array(clients.values)) }
        if fd >= 0 { writeAll(fd, bytes) }
        if target == .stdout { writeAll(1, bytes) }
        guard !channels.isEmpty else { return }
        let buffer = ByteBuffer(bytes: bytes)
        for channel in channels where channel.isWritable {
            channel.writeAndFlush(buffer, promise: nil)
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, let base = raw.baseAddress {
                let n = write(fd, base + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    fileprivate func adopt(_ channel: any Channel) -> Bool {
        lock.withLock {
            guard listener != nil, clients.count < Self.maximumClients else { return false }
            clients[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    fileprivate func drop(_ channel: any Channel) {
        _ = lock.withLock { clients.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Number of console socket clients connected now.
    var clientCount: Int { lock.withLock { clients.count } }

    /// Closes the log, the listener and every client, and removes the socket file this machine made.
    func close() async {
        let (fd, server, open, identity) = lock.withLock { () -> (Int32, (any Channel)?, [any Channel], (dev_t, ino_t)?) in
            defer {
                log = -1
                listener = nil
                clients = [:]
                socketIdentity = nil
            }
            return (log, listener, Array(clients.values), socketIdentity)
        }
        if fd >= 0 { Glibc.close(fd) }
        try? await server?.close()
        for channel in open { try? await channel.close() }
        if case .unixSocket(let path) = target, let identity { Self.removeSocket(path: path, identity: identity) }
    }

    private static func removeSocket(path: String, identity: (dev_t, ino_t)) {
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, info.st_dev == identity.0, info.st_ino == identity.1 {
            unlink(path)
        }
    }
}

/// One console socket client: what it sends goes to the machine, a few writes at a time.
private final class ConsoleClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private weak var sinks: ConsoleSinks?
    /// Input writes not yet delivered; reading stops at ``maximumInFlight``. Touched only on the channel's loop.
    private var inFlight = 0
    private static let maximumInFlight = 4

    init(sinks: ConsoleSinks?) { self.sinks = sinks }

    func channelActive(context: ChannelHandlerContext) {
        guard let sinks, sinks.adopt(context.channel) else {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        sinks?.drop(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = Self.unwrapInboundIn(data)
        guard let sinks, let bytes = buffer.readBytes(length: buffer.readableBytes), !bytes.isEmpty else { return }
        inFlight += 1
        if inFlight >= Self.maximumInFlight { _ = context.channel.setOption(ChannelOptions.autoRead, value: false) }
        let channel = context.channel
        let loop = context.eventLoop
        Task {
            await sinks.input(bytes)
            loop.execute {
                self.inFlight -= 1
                if self.inFlight < Self.maximumInFlight { _ = channel.setOption(ChannelOptions.autoRead, value: true) }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
