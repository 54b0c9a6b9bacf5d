// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// emud's version as QMP clients read it from the greeting and from `query-version`.
///
/// QMP clients expect `{"qemu": {"major", "minor", "micro"}, "package"}`; the numbers are emud's own
/// version (clients only check that they are integers), and `package` says it is emud.
public struct ControlVersion: Sendable, Hashable {
    public var major: Int
    public var minor: Int
    public var micro: Int
    /// Free text shown by clients, e.g. "emud 0.1.0".
    public var package: String

    public init(major: Int, minor: Int, micro: Int, package: String? = nil) {
        self.major = major
        self.minor = minor
        self.micro = micro
        self.package = package ?? "emud \(major).\(minor).\(micro)"
    }

    /// Parses "MAJOR.MINOR.MICRO" with an optional suffix after `-` or `+` (kept in ``package``).
    public init?(_ text: String) {
        let core = text.split(whereSeparator: { $0 == "-" || $0 == "+" }).first.map(String.init) ?? ""
        let parts = core.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 3, let major = parts[0], let minor = parts[1], let micro = parts[2] else { return nil }
        self.init(major: major, minor: minor, micro: micro, package: "emud \(text)")
    }

    var json: JSONValue {
        ["qemu": ["major": .int(major), "minor": .int(minor), "micro": .int(micro)], "package": .string(package)]
    }
}

/// Wall-clock time of an event, as QMP writes it: seconds and microseconds since the Unix epoch.
public struct ControlTimestamp: Sendable, Hashable {
    public var seconds: Int
    public var microseconds: Int

    public init(seconds: Int, microseconds: Int) {
        self.seconds = seconds
        self.microseconds = microseconds
    }

    /// The current wall-clock time (`CLOCK_REALTIME`).
    public static func now() -> ControlTimestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return ControlTimestamp(seconds: Int(spec.tv_sec), microseconds: Int(spec.tv_nsec) / 1000)
    }
}

/// An asynchronous notification: `{"event": NAME, "data": {...}, "timestamp": {...}}`.
public struct ControlEvent: Sendable, Hashable {
    /// Upper case with underscores by QMP convention, e.g. "MACHINE_STOPPED".
    public var name: String
    public var data: [String: JSONValue]
    public var timestamp: ControlTimestamp

    public init(name: String, data: [String: JSONValue] = [:], timestamp: ControlTimestamp = .now()) {
        self.name = name
        self.data = data
        self.timestamp = timestamp
    }

    /// The wire line, without the terminating newline.
    var serialized: String {
        var writer = JSONWriter()
        writer.writeObject([
            ("event", .string(name)),
            ("data", .object(data)),
            ("timestamp", ["seconds": .int(timestamp.seconds), "microseconds": .int(timestamp.microseconds)]),
        ])
        return writer.output
    }

    /// Reads an event line as a client; `nil` if the object is not an event.
    init?(_ message: [String: JSONValue]) {
        guard let name = message["event"]?.stringValue else { return nil }
        self.name = name
        self.data = message["data"]?.objectValue ?? [:]
        let timestamp = message["timestamp"]
        self.timestamp = ControlTimestamp(
            seconds: timestamp?["seconds"]?.intValue ?? 0, microseconds: timestamp?["microseconds"]?.intValue ?? 0)
    }
}

/// One parsed `{"execute": NAME, "arguments": {...}, "id": ANY}` line.
struct ControlRequest: Sendable, Equatable {
    var command: String
    var arguments: [String: JSONValue]
    /// Echoed verbatim in the reply; `nil` when the request had no `id` member (then the reply has none).
    var id: JSONValue?

    /// A line that is not a valid request, with the id to echo if one could be read.
    struct Invalid: Error, Equatable {
        var error: ControlError
        var id: JSONValue?
    }

    /// Parses one line. Returns `nil` for a blank line, which is ignored like whitespace between
    /// JSON values.
    static func parse(line: UnsafeRawBufferPointer) -> Result<ControlRequest, Invalid>? {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return nil }
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            return .failure(Invalid(error: .generic("\(error); send one JSON object per line"), id: nil))
        }
        guard case .object(let members) = value else {
            return .failure(Invalid(error: .generic("QMP input must be a JSON object, not \(value.kindDescription)"), id: nil))
        }
        let id = members["id"]
        for key in members.keys where key != "execute" && key != "arguments" && key != "id" {
            return .failure(
                Invalid(error: .generic("QMP input member '\(key)' is unexpected; use 'execute', 'arguments' and 'id'"), id: id))
        }
        guard let execute = members["execute"] else {
            return .failure(Invalid(error: .generic("QMP input lacks member 'execute'"), id: id))
        }
        guard case .string(let command) = execute else {
            return .failure(Invalid(error: .generic("QMP input member 'execute' must be a string"), id: id))
        }
        var arguments: [String: JSONValue] = [:]
        if let given = members["arguments"] {
            guard case .object(let object) = given else {
                return .failure(Invalid(error: .generic("QMP input member 'arguments' must be an object"), id: id))
            }
            arguments = object
        }
        return .success(ControlRequest(command: command, arguments: arguments, id: id))
    }

    /// The wire line of a request as a client sends it, without the terminating newline.
    static func serialized(command: String, arguments: [String: JSONValue], id: JSONValue?) -> String {
        var members: [(key: String, value: JSONValue)] = [("execute", .string(command))]
        if !arguments.isEmpty { members.append(("arguments", .object(arguments))) }
        if let id { members.append(("id", id)) }
        var writer = JSONWriter()
        writer.writeObject(members)
        return writer.output
    }
}

/// The answer to one request.
enum ControlReply: Sendable, Equatable {
    case success(JSONValue)
    case failure(ControlError)

    /// The wire line, without the terminating newline; `id` is omitted when `nil`.
    func serialized(id: JSONValue?) -> String {
        var members: [(key: String, value: JSONValue)]
        switch self {
        case .success(let value): members = [("return", value)]
        case .failure(let error): members = [("error", error.json)]
        }
        if let id { members.append(("id", id)) }
        var writer = JSONWriter()
        writer.writeObject(members)
        return writer.output
    }
}

enum ControlGreeting {
    /// `{"QMP": {"version": ..., "capabilities": []}}`: no optional capabilities (no out-of-band).
    static func serialized(version: ControlVersion) -> String {
        var writer = JSONWriter()
        writer.writeObject([("QMP", .object(["version": version.json, "capabilities": .array([])]))])
        return writer.output
    }
}
