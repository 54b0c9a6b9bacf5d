// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

/// Why a ``ControlServer`` could not listen; each case says what to do about it.
public enum ControlServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another live process accepts connections on the socket path.
    case socketInUse(path: String)
    /// Something other than a socket exists at the path; it is never removed.
    case notASocket(path: String)
    /// The path does not fit in `sockaddr_un` or contains a NUL byte.
    case invalidSocketPath(path: String, reason: String)
    /// A TCP listener was asked for on an address other than loopback.
    case notLoopback(host: String)
    /// A system call failed while setting up the listener.
    case systemCallFailed(endpoint: String, call: String, errno: Int32)
    /// NIO could not bind or adopt the socket.
    case bindFailed(endpoint: String, reason: String)

    public var description: String {
        switch self {
        case .socketInUse(let path):
            return "control socket \(path) is in use by a running process (is another emud running?); "
                + "stop that process or choose another socket path"
        case .notASocket(let path):
            return "\(path) exists and is not a socket; remove it or choose another control socket path"
        case .invalidSocketPath(let path, let reason):
            return "cannot use \(path) as a control socket: \(reason); choose a shorter path"
        case .notLoopback(let host):
            return "refusing to listen for control connections on \(host): the control protocol has no "
                + "authentication, so TCP is only offered on loopback (127.0.0.1 or ::1); use the unix socket "
                + "for remote access through ssh"
        case .systemCallFailed(let endpoint, let call, let code):
            return "cannot listen for control connections on \(endpoint): \(call) failed: \(ControlServerError.errnoText(code))"
        case .bindFailed(let endpoint, let reason):
            return "cannot listen for control connections on \(endpoint): \(reason)"
        }
    }

    static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text) + " (errno \(code))"
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
