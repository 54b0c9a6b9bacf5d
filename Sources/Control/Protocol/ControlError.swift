// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

/// The `class` of a QMP error reply: a small, stable vocabulary clients branch on.
///
/// A struct rather than an enum so that a client can carry a class this module does not name
/// (a QEMU server answers `KVMMissingCap`, for instance).
public struct ControlErrorClass: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Anything not covered by a more specific class: bad input, bad arguments, failed commands.
    public static let genericError = ControlErrorClass(rawValue: "GenericError")
    /// The command does not exist, or is not allowed yet (before `qmp_capabilities`).
    public static let commandNotFound = ControlErrorClass(rawValue: "CommandNotFound")
    /// The command names a machine or device that does not exist.
    public static let deviceNotFound = ControlErrorClass(rawValue: "DeviceNotFound")

    public var description: String { rawValue }
}

/// An error a command reports to the client as `{"error": {"class": ..., "desc": ...}}`.
///
/// `message` is read by people: it says what was wrong and what to do about it, e.g.
/// "machine-create: argument 'cpus' must be an integer between 1 and 8, not 12".
/// Also what ``ControlClient/execute(_:arguments:)`` throws when the server answers with an error.
public struct ControlError: Error, Sendable, Hashable, CustomStringConvertible {
    public var errorClass: ControlErrorClass
    /// The `desc` member on the wire.
    public var message: String

    public init(_ errorClass: ControlErrorClass, _ message: String) {
        self.errorClass = errorClass
        self.message = message
    }

    public static func generic(_ message: String) -> ControlError { ControlError(.genericError, message) }
    public static func commandNotFound(_ message: String) -> ControlError { ControlError(.commandNotFound, message) }
    public static func deviceNotFound(_ message: String) -> ControlError { ControlError(.deviceNotFound, message) }

    public var description: String { "\(errorClass): \(message)" }

    var json: JSONValue { ["class": .string(errorClass.rawValue), "desc": .string(message)] }
}
