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

extension ConsoleRing {
    /// The last `count` lines of what is still buffered (from its last 8 KiB), for crash reports.
    func lastLines(_ count: Int) -> [String] {
        let (bytes, _, _) = read(from: total >= 8192 ? total - 8192 : 0)
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let trimmed = lines.last == "" ? Array(lines.dropLast()) : lines
        return Array(trimmed.suffix(count))
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

/// One machine hosted in this process (by a worker, see ``WorkerCommand``), with its plugins, console and
/// optional gdb endpoint.
final class ManagedMachine: @unchecked Sendable {
    let id: String
    let machine: Machine
    let plugins: PluginHost
    let ring = ConsoleRing()
    let imagePath: String
    let createdAt = Date()
    var gdbServer: GDBServer?
    var gdbEndpoint: String?
    var gdbAdapter: GDBAdapter?
    /// Where console output goes instead of the ring: a worker sends it to the daemon.
    var consoleSink: ConsoleBatcher?

    init(id: String, machine: Machine, plugins: PluginHost, imagePath: String) {
        self.id = id
        self.machine = machine
        self.plugins = plugins
        self.imagePath = imagePath
    }

    /// Console output from the guest (vCPU threads); never blocks.
    func consoleOutput(_ bytes: [UInt8]) {
        if let consoleSink {
            consoleSink.append(machine: id, bytes)
        } else {
            ring.append(bytes)
        }
    }
}

/// Opens a console log for appending. The file is created (mode 0640) if it is not there; an existing one must be
/// a regular file owned by the daemon's user, not a symbolic link, and not on /proc or /sys, so a client cannot
/// make the daemon append to somebody else's file or write into a process's memory.
func openConsoleLog(_ path: String) throws -> Int32 {
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0o640)
    guard fd >= 0 else {
        let why = errno == ELOOP ? "it is a symbolic link" : String(cString: strerror(errno))
        throw DaemonError.generic("cannot open console log \(path) for appending: \(why); name a regular file in a directory the daemon may write")
    }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
        close(fd)
        throw DaemonError.generic("cannot inspect console log \(path): \(String(cString: strerror(errno)))")
    }
    let problem: String?
    if info.st_mode & S_IFMT != S_IFREG {
        problem = "it is not a regular file"
    } else if info.st_uid != geteuid() {
        problem = "it belongs to user \(info.st_uid), not to the daemon's user \(geteuid())"
    } else if let opened = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
              opened.hasPrefix("/proc/") || opened.hasPrefix("/sys/") {
        problem = "it is on /proc or /sys"
    } else {
        problem = nil
    }
    if let problem {
        close(fd)
        throw DaemonError.generic("refusing console log \(path): \(problem); name a regular file of the daemon's own")
    }
    return fd
}

/// Listens on a console socket at `path`. A stale socket there is replaced; any other file is left alone and the
/// machine is refused, so a client cannot make the daemon delete a file by naming it.
func listenConsoleSocket(path: String) throws -> (Int32, (dev_t, ino_t)) {
    var existing = stat()
    if lstat(path, &existing) == 0, existing.st_mode & S_IFMT != S_IFSOCK {
        throw DaemonError.generic("console socket \(path) already exists and is not a socket; remove it or name another path")
    }
    let fd = try listenUnix(path: path)
    var info = stat()
    guard lstat(path, &info) == 0 else {
        close(fd)
        throw DaemonError.generic("console socket \(path) vanished as it was made")
    }
    return (fd, (info.st_dev, info.st_ino))
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
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
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
    // Only a stale socket is replaced; `listenConsoleSocket` refused anything else before we got here.
    var existing = stat()
    if lstat(path, &existing) == 0, existing.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
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
