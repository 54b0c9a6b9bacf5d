// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

/// The client on the other end of a control connection, for logging and for commands that want to
/// decide by who is asking.
public struct ControlPeer: Sendable, Hashable, CustomStringConvertible {
    /// Unique among one server's connections, increasing from 1.
    public var connectionID: Int
    /// "unix:/run/emud/control.sock", "127.0.0.1:40422", ...
    public var address: String
    /// The connecting process, from `SO_PEERCRED`; `nil` for TCP clients or where unavailable.
    public var credentials: PeerCredentials?

    public init(connectionID: Int, address: String, credentials: PeerCredentials? = nil) {
        self.connectionID = connectionID
        self.address = address
        self.credentials = credentials
    }

    public var description: String {
        var text = "control client #\(connectionID) on \(address)"
        if let credentials { text += " (\(credentials))" }
        return text
    }
}

/// The process at the other end of a unix socket, as the kernel recorded it at `connect()`.
public struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "pid \(pid), uid \(uid), gid \(gid)" }
}

/// One named command: its declared parameters and its handler.
public struct ControlCommand: Sendable {
    /// Runs the command. Called on a Swift concurrency task (never on an event loop), so it may
    /// await machine operations; commands of one connection run one at a time, in order, but
    /// commands of different connections run concurrently. Throw ``ControlError`` to choose the
    /// error class; any other error becomes a `GenericError` carrying its description. Return `[:]`
    /// (`{}`) when there is nothing to report, as QMP does. A command that has started runs to the
    /// end even if its client disconnects; the reply is then dropped.
    public typealias Handler = @Sendable (ControlArguments, ControlPeer) async throws -> JSONValue

    public let name: String
    /// Argument names the command accepts; any other name is rejected before the handler runs.
    public let parameters: [String]
    public let handler: Handler

    public init(name: String, parameters: [String] = [], handler: @escaping Handler) {
        self.name = name
        self.parameters = parameters
        self.handler = handler
    }
}

/// The commands a ``ControlServer`` offers besides the built-in ones (`qmp_capabilities`,
/// `query-version`, `query-commands`), which the server answers itself.
///
/// Built before the server starts and handed to it by value; the server never changes it, so the
/// set of commands is fixed for the server's life. A value type: build it on one thread.
public struct ControlCommandRegistry: Sendable {
    /// Names the server answers itself; registering one of them is a programming error.
    public static let builtinCommandNames = ["qmp_capabilities", "query-commands", "query-version"]

    private var commands: [String: ControlCommand] = [:]

    public init() {}

    /// Adds a command.
    /// - Precondition: no command of that name is registered and it is not a built-in one; this is
    ///   decided by emud's code, never by a client.
    public mutating func register(_ command: ControlCommand) {
        precondition(!Self.builtinCommandNames.contains(command.name), "\(command.name) is a built-in command")
        precondition(commands[command.name] == nil, "command \(command.name) registered twice")
        commands[command.name] = command
    }

    /// Adds a command given by its parts; see ``ControlCommand/Handler`` for what the handler may assume.
    public mutating func register(
        _ name: String, parameters: [String] = [], handler: @escaping ControlCommand.Handler
    ) {
        register(ControlCommand(name: name, parameters: parameters, handler: handler))
    }

    /// The registered commands' names, sorted (built-in ones not included).
    public var commandNames: [String] { commands.keys.sorted() }

    /// Built-in and registered command names, sorted: what `query-commands` lists.
    public var allCommandNames: [String] { (Self.builtinCommandNames + commandNames).sorted() }

    public func command(named name: String) -> ControlCommand? { commands[name] }

    /// Checks the arguments against the declared parameters, then runs the handler, turning every
    /// outcome into a reply.
    func run(_ command: ControlCommand, arguments: [String: JSONValue], peer: ControlPeer) async -> ControlReply {
        for key in arguments.keys.sorted() where !command.parameters.contains(key) {
            let accepted =
                command.parameters.isEmpty
                ? "it takes no arguments" : "it accepts \(command.parameters.joined(separator: ", "))"
            return .failure(.generic("\(command.name): unexpected argument '\(key)'; \(accepted)"))
        }
        do {
            return .success(try await command.handler(ControlArguments(command: command.name, values: arguments), peer))
        } catch let error as ControlError {
            return .failure(error)
        } catch {
            return .failure(.generic("\(command.name) failed: \(error)"))
        }
    }
}
