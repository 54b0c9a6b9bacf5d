// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Creating, checking and removing the file of a listening unix socket.
///
/// Guarantees:
/// - A socket file whose listener is gone (connecting is refused) is replaced; one with a live
///   listener is never taken over (``ControlServerError/socketInUse(path:)``); anything that is
///   not a socket is never removed.
/// - The socket's permissions are set before it listens, so no client can connect while it is
///   still world-accessible: 0600, or 0660 with the configured group.
/// - Removal at shutdown only unlinks the file if it is still the one this process created.
///
/// Blocking system calls on the caller's thread; used once per listener at startup and shutdown.
enum UnixSocketFile {
    /// Device and inode of a file, to recognise it later.
    struct Identity: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    /// Returns a bound, not yet listening socket at `path` with its permissions set.
    static func bind(path: String, group: UInt32?) throws(ControlServerError) -> (descriptor: Int32, identity: Identity) {
        var address = try socketAddress(path)
        try removeIfStale(path: path)

        let descriptor = socket(AF_UNIX, streamSocketType, 0)
        guard descriptor >= 0 else { throw .systemCallFailed(endpoint: path, call: "socket", errno: errno) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                systemBind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if bound != 0 {
            let code = errno
            close(descriptor)
            // Someone else bound the path between our check and our bind.
            if code == EADDRINUSE { throw .socketInUse(path: path) }
            throw .systemCallFailed(endpoint: path, call: "bind", errno: code)
        }
        func fail(_ call: String) -> ControlServerError {
            let code = errno
            close(descriptor)
            unlink(path)
            return .systemCallFailed(endpoint: path, call: call, errno: code)
        }
        if let group, chown(path, uid_t.max, gid_t(group)) != 0 { throw fail("chown") }
        if chmod(path, group == nil ? 0o600 : 0o660) != 0 { throw fail("chmod") }
        guard let identity = identity(of: path) else { throw fail("stat") }
        return (descriptor, identity)
    }

    /// Unlinks `path` if it is still the socket file identified by `identity`.
    static func remove(path: String, identity: Identity) {
        if self.identity(of: path) == identity { unlink(path) }
    }

    static func identity(of path: String) -> Identity? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return Identity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    /// Removes a socket file nobody listens on; throws if a live process does or if it is not a socket.
    static func removeIfStale(path: String) throws(ControlServerError) {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return }
            throw .systemCallFailed(endpoint: path, call: "lstat", errno: errno)
        }
        guard (status.st_mode & S_IFMT) == S_IFSOCK else { throw .notASocket(path: path) }

        var address = try socketAddress(path)
        let probe = socket(AF_UNIX, streamSocketType | nonBlockingFlag, 0)
        guard probe >= 0 else { throw .systemCallFailed(endpoint: path, call: "socket", errno: errno) }
        defer { close(probe) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected == 0 { throw .socketInUse(path: path) }
        switch errno {
        case ECONNREFUSED:
            // The listener is gone: the file is stale.
            if unlink(path) != 0 && errno != ENOENT {
                throw .systemCallFailed(endpoint: path, call: "unlink", errno: errno)
            }
        case ENOENT:
            return  // removed meanwhile
        case EAGAIN, EINPROGRESS:
            throw .socketInUse(path: path)  // alive, its backlog is full
        default:
            throw .systemCallFailed(endpoint: path, call: "connect", errno: errno)
        }
    }

    private static func socketAddress(_ path: String) throws(ControlServerError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty else { throw .invalidSocketPath(path: path, reason: "the path is empty") }
        guard !bytes.contains(0) else { throw .invalidSocketPath(path: path, reason: "the path contains a NUL byte") }
        guard bytes.count < capacity else {
            throw .invalidSocketPath(
                path: path, reason: "the path is \(bytes.count) bytes long and unix sockets allow \(capacity - 1)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    #if os(Linux)
    private static let streamSocketType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    private static let nonBlockingFlag = Int32(SOCK_NONBLOCK.rawValue)
    #else
    private static let streamSocketType = SOCK_STREAM
    private static let nonBlockingFlag: Int32 = 0
    #endif

    private static func systemBind(_ descriptor: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
        #if canImport(Glibc)
        return Glibc.bind(descriptor, address, length)
        #elseif canImport(Musl)
        return Musl.bind(descriptor, address, length)
        #else
        return Darwin.bind(descriptor, address, length)
        #endif
    }
}
