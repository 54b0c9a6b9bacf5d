import Foundation
import GDBStub
import Logging
import Machine
import Plugins

/// A bounded buffer of console output, read by `console-read`. Thread-safe.
final class ConsoleRing: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private let capacity: Int
    /// Total bytes ever written; readers ask for output from an offset in this stream.
    private(set) var total: UInt64 = 0

    init(capacity: Int = 1 << 20) { self.capacity = capacity }

    func append(_ data: [UInt8]) {
        lock.lock()
        bytes += data
        total += UInt64(data.count)
        if bytes.count > capacity { bytes.removeFirst(bytes.count - capacity) }
        lock.unlock()
    }

    /// Output from stream offset `from` (clamped to what is still buffered) and the offset after it.
    func read(from: UInt64?) -> (text: [UInt8], next: UInt64, dropped: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        let oldest = total - UInt64(bytes.count)
        let start = max(from ?? oldest, oldest)
        guard start < total else { return ([], total, 0) }
        let slice = Array(bytes[Int(start - oldest)...])
        return (slice, total, (from ?? oldest) < oldest ? oldest - (from ?? oldest) : 0)
    }
}

/// Where a daemon machine's console goes.
enum ConsoleTarget: Equatable {
    case ring
    /// The daemon's own stdout (the `make run` demo), besides the ring.
    case stdout
    case file(String)
    case unixSocket(String)
}

/// One machine hosted by the daemon, with its plugins, console and optional gdb endpoint.
final class ManagedMachine: @unchecked Sendable {
    let id: String
    let machine: Machine
    let plugins: PluginHost
    let ring = ConsoleRing()
    let consoleTarget: ConsoleTarget
    let imagePath: String
    let createdAt = Date()
    var gdbServer: GDBServer?
    var gdbEndpoint: String?
    var gdbAdapter: GDBAdapter?
    private var consoleFile: FileHandle?
    private var consoleListener: Int32 = -1
    private var consoleClients: [Int32] = []
    private let consoleLock = NSLock()

    init(id: String, machine: Machine, plugins: PluginHost, console: ConsoleTarget, imagePath: String) {
        self.id = id
        self.machine = machine
        self.plugins = plugins
        self.consoleTarget = console
        self.imagePath = imagePath
    }

    /// Console output from the guest (vCPU threads).
    func consoleOutput(_ bytes: [UInt8]) {
        ring.append(bytes)
        consoleLock.lock()
        defer { consoleLock.unlock() }
        if let consoleFile { consoleFile.write(Data(bytes)) }
        if consoleTarget == .stdout {
            bytes.withUnsafeBytes { raw in _ = Foundation.write(1, raw.baseAddress, raw.count) }
        }
        consoleClients.removeAll { fd in
            bytes.withUnsafeBytes { raw in Foundation.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) } < 0
        }
    }

    func openConsole() throws {
        switch consoleTarget {
        case .ring, .stdout: break
        case .file(let path):
            if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw DaemonError.generic("cannot open console log \(path) for writing; check the directory exists and is writable")
            }
            handle.seekToEndOfFile()
            consoleFile = handle
        case .unixSocket(let path):
            consoleListener = try listenUnix(path: path)
            let listener = consoleListener
            Thread.detachNewThread { [weak self] in
                while true {
                    let fd = accept(listener, nil, nil)
                    if fd < 0 { return }
                    guard let self else { close(fd); return }
                    self.consoleLock.lock()
                    self.consoleClients.append(fd)
                    self.consoleLock.unlock()
                    Thread.detachNewThread { [weak self] in
                        var buffer = [UInt8](repeating: 0, count: 4096)
                        while true {
                            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                            if n <= 0 { return }
                            self?.machine.board.uart.receive(Array(buffer[0..<n]))
                            self?.machine.board.console.feed(Array(buffer[0..<n]))
                        }
                    }
                }
            }
        }
    }

    func closeConsole() {
        consoleLock.lock()
        defer { consoleLock.unlock() }
        try? consoleFile?.synchronize()
        try? consoleFile?.close()
        consoleFile = nil
        for fd in consoleClients { close(fd) }
        consoleClients.removeAll()
        if consoleListener >= 0 {
            shutdown(consoleListener, Int32(SHUT_RDWR))
            close(consoleListener)
            consoleListener = -1
            if case .unixSocket(let path) = consoleTarget { unlink(path) }
        }
    }
}

enum DaemonError: Error, CustomStringConvertible {
    case generic(String)
    case notFound(String)

    var description: String {
        switch self {
        case .generic(let s), .notFound(let s): return s
        }
    }
}

/// Creates a listening unix stream socket at `path` (mode 0600), replacing a stale socket file.
func listenUnix(path: String, mode: mode_t = 0o600) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw DaemonError.generic("cannot create a socket for \(path): \(String(cString: strerror(errno)))") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
        close(fd)
        throw DaemonError.generic("socket path \(path) is too long (unix sockets allow \(MemoryLayout.size(ofValue: address.sun_path) - 1) bytes)")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, b) in bytes.enumerated() { raw[i] = b }
        raw[bytes.count] = 0
    }
    unlink(path)
    let length = socklen_t(MemoryLayout<sockaddr_un>.size)
    let ok = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    guard ok == 0, listen(fd, 16) == 0 else {
        let why = String(cString: strerror(errno))
        close(fd)
        throw DaemonError.generic("cannot listen on \(path): \(why)")
    }
    chmod(path, mode)
    return fd
}
