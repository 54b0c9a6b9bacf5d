// emud: the GDB remote protocol. GPL-2.0-or-later.

/// Where a ``GDBServer`` listens, written the way QEMU's `-gdb` option writes it.
///
/// - `tcp:HOST:PORT`, for example `tcp:0.0.0.0:1234` or `tcp:[::1]:1234`
/// - `tcp::PORT` or `:PORT`: host 127.0.0.1, so the debuggee is not reachable from the network unless
///   asked for
/// - `unix:PATH`: a Unix-domain socket (gdb: `target remote PATH`); a stale socket file is replaced
public enum GDBEndpoint: Equatable, Hashable, Sendable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)
    /// A listening socket someone else bound, e.g. passed by systemd socket activation (`gdb-<machine>`).
    case adopted(descriptor: Int32)

    /// The host used when the endpoint does not name one.
    public static let defaultHost = "127.0.0.1"

    /// Parses the textual forms above.
    public init(parsing text: String) throws(GDBEndpointError) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst("unix:".count))
            guard !path.isEmpty else { throw GDBEndpointError(text: text, problem: "the socket path is empty") }
            self = .unix(path: path)
            return
        }
        var rest = Substring(text)
        if rest.hasPrefix("tcp:") { rest = rest.dropFirst("tcp:".count) }
        guard let colon = rest.lastIndex(of: ":") else {
            throw GDBEndpointError(text: text, problem: "no ':PORT' found")
        }
        var host = rest[..<colon]
        let portText = rest[rest.index(after: colon)...]
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = host.dropFirst().dropLast()  // [::1]
        } else if host.contains(":") {
            throw GDBEndpointError(text: text, problem: "write IPv6 hosts in brackets, like tcp:[::1]:1234")
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw GDBEndpointError(text: text, problem: "'\(portText)' is not a port number (0-65535)")
        }
        self = .tcp(host: host.isEmpty ? Self.defaultHost : String(host), port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port):
            return host.contains(":") ? "tcp:[\(host)]:\(port)" : "tcp:\(host):\(port)"
        case .unix(let path):
            return "unix:\(path)"
        case .adopted(let descriptor):
            return "inherited socket (fd \(descriptor))"
        }
    }
}

/// An endpoint text that does not parse; the message says which forms work.
public struct GDBEndpointError: Error, Equatable, Sendable, CustomStringConvertible {
    public var text: String
    public var problem: String

    public var description: String {
        "gdb endpoint '\(text)' is not understood (\(problem)); write tcp:HOST:PORT, tcp::PORT "
            + "(listens on \(GDBEndpoint.defaultHost)) or unix:PATH"
    }
}
