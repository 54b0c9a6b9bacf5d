// emud: the GDB remote protocol. GPL-2.0-or-later.

/// `qSupported[:feature;feature...]`: gdb's features, which the session uses to decide what it may
/// send (multiprocess thread ids, `swbreak`/`hwbreak` stop reasons).
public struct Supported: Equatable, Sendable {
    /// gdb's features as sent, for example `multiprocess+` or `xmlRegisters=i386`.
    public var features: [String]

    public init(features: [String]) { self.features = features }

    init(body: ArraySlice<UInt8>) {
        features = body.split(separator: UInt8(ascii: ";")).map { String(decoding: $0, as: UTF8.self) }
    }

    /// True if gdb said `name+`.
    public func peerSupports(_ name: String) -> Bool {
        features.contains(name + "+")
    }
}

/// `qAttached[:pid]`: did the debugger attach to an existing process (1) or create it (0)?
public struct Attached: Equatable, Sendable {
    public var process: Int?

    public init(process: Int? = nil) { self.process = process }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        process = body.isEmpty ? nil : try body.hexInt("qAttached", "process id")
    }
}

/// `qRcmd,HEX`: a `monitor` command, hex-encoded.
public struct Monitor: Equatable, Sendable {
    /// The command text as gdb sent it.
    public var command: String

    public init(command: String) { self.command = command }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        guard let bytes = Hex.decode(body) else {
            throw MalformedPacket("qRcmd", "command is not hex-encoded")
        }
        command = String(decoding: bytes, as: UTF8.self)
    }
}
