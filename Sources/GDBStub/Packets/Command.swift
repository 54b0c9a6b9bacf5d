// emud: the GDB remote protocol. GPL-2.0-or-later.

/// A packet gdb sent whose fields do not parse. The session answers `E01`; the session goes on.
public struct MalformedPacket: Error, Equatable, Sendable, CustomStringConvertible {
    /// Which packet, as its leading letters (`m`, `vCont`, `qXfer`...).
    public var packet: String
    /// What is wrong with it.
    public var problem: String

    public init(_ packet: String, _ problem: String) {
        self.packet = packet
        self.problem = problem
    }

    public var description: String { "malformed '\(packet)' packet: \(problem)" }
}

/// One request from gdb, parsed from a packet's payload.
///
/// Each packet has its own type with its own parser, in files grouped by subject
/// (`Registers.swift`, `Memory.swift`, `Resume.swift`, `Threads.swift`, `Breakpoints.swift`,
/// `Query.swift`, `Xfer.swift`, `HostIO.swift`, `Lifecycle.swift`). A packet this stub does not
/// implement parses as ``unsupported``, which the session answers with the empty reply that tells gdb so.
public enum Command: Equatable, Sendable {
    /// `?`
    case haltReason
    /// `g`
    case readRegisters
    /// `G`
    case writeRegisters(WriteRegisters)
    /// `p`
    case readRegister(ReadRegister)
    /// `P`
    case writeRegister(WriteRegister)
    /// `m`
    case readMemory(ReadMemory)
    /// `M` (hex data) and `X` (binary data)
    case writeMemory(WriteMemory)
    /// `c`, `C`, `s`, `S`
    case resume(LegacyResume)
    /// `vCont?`
    case vContQuery
    /// `vCont;...`
    case vCont(VCont)
    /// `H`
    case setThread(SetThread)
    /// `T`
    case threadAlive(ThreadAlive)
    /// `qfThreadInfo`
    case threadInfoFirst
    /// `qsThreadInfo`
    case threadInfoNext
    /// `qThreadExtraInfo,THREAD`
    case threadExtraInfo(ThreadExtraInfo)
    /// `qC`
    case currentThread
    /// `qAttached`
    case attached(Attached)
    /// `qOffsets`
    case offsets
    /// `qSupported`
    case supported(Supported)
    /// `qXfer:OBJECT:read:ANNEX:OFFSET,LENGTH`
    case xferRead(XferRead)
    /// `qRcmd,HEX`
    case monitor(Monitor)
    /// `QStartNoAckMode`
    case startNoAckMode
    /// `Z` and `z`
    case breakpoint(BreakpointPacket)
    /// `D`
    case detach(Detach)
    /// `k`
    case kill
    /// `vKill;PID`
    case vKill(VKill)
    /// `vFile:...` (Host I/O)
    case hostIO(HostIOPacket)
    /// Anything else; answered with an empty packet.
    case unsupported

    /// Parses one packet payload (already unescaped by ``PacketDecoder``).
    public static func parse(_ payload: [UInt8]) throws(MalformedPacket) -> Command {
        guard let first = payload.first else { return .unsupported }
        let body = payload.dropFirst()
        switch first {
        case UInt8(ascii: "?"): return .haltReason
        case UInt8(ascii: "g"): return .readRegisters
        case UInt8(ascii: "G"): return .writeRegisters(try WriteRegisters(body: body))
        case UInt8(ascii: "p"): return .readRegister(try ReadRegister(body: body))
        case UInt8(ascii: "P"): return .writeRegister(try WriteRegister(body: body))
        case UInt8(ascii: "m"): return .readMemory(try ReadMemory(body: body))
        case UInt8(ascii: "M"): return .writeMemory(try WriteMemory(hexBody: body))
        case UInt8(ascii: "X"): return .writeMemory(try WriteMemory(binaryBody: body))
        case UInt8(ascii: "c"), UInt8(ascii: "C"), UInt8(ascii: "s"), UInt8(ascii: "S"):
            return .resume(try LegacyResume(letter: first, body: body))
        case UInt8(ascii: "H"): return .setThread(try SetThread(body: body))
        case UInt8(ascii: "T"): return .threadAlive(try ThreadAlive(body: body))
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard let packet = try BreakpointPacket(insert: first == UInt8(ascii: "Z"), body: body)
            else { return .unsupported }
            return .breakpoint(packet)
        case UInt8(ascii: "D"): return .detach(try Detach(body: body))
        case UInt8(ascii: "k"): return .kill
        case UInt8(ascii: "v"): return try parseV(payload)
        case UInt8(ascii: "q"), UInt8(ascii: "Q"): return try parseQuery(payload)
        default: return .unsupported
        }
    }

    private static func parseV(_ payload: [UInt8]) throws(MalformedPacket) -> Command {
        if payload.elementsEqual("vCont?".utf8) { return .vContQuery }
        if payload.hasASCIIPrefix("vCont;") {
            return .vCont(try VCont(body: payload.dropFirst("vCont;".utf8.count)))
        }
        if payload.hasASCIIPrefix("vKill;") {
            return .vKill(try VKill(body: payload.dropFirst("vKill;".utf8.count)))
        }
        if payload.hasASCIIPrefix("vFile:") {
            return try HostIOPacket(body: payload.dropFirst("vFile:".utf8.count)).map(Command.hostIO) ?? .unsupported
        }
        return .unsupported
    }

    private static func parseQuery(_ payload: [UInt8]) throws(MalformedPacket) -> Command {
        // The name ends at ':' or ',' (qRcmd uses ','), or at the end of the packet.
        let nameEnd =
            payload.firstIndex { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ",") } ?? payload.endIndex
        let name = payload[..<nameEnd]
        let rest = nameEnd < payload.endIndex ? payload[(nameEnd + 1)...] : payload[payload.endIndex...]
        func named(_ text: String) -> Bool { name.elementsEqual(text.utf8) }

        if named("qSupported") { return .supported(Supported(body: rest)) }
        if named("qXfer") { return try XferRead(body: rest).map(Command.xferRead) ?? .unsupported }
        if named("qRcmd") { return .monitor(try Monitor(body: rest)) }
        if named("qfThreadInfo") { return .threadInfoFirst }
        if named("qsThreadInfo") { return .threadInfoNext }
        if named("qC") { return .currentThread }
        if named("qThreadExtraInfo") { return .threadExtraInfo(try ThreadExtraInfo(body: rest)) }
        if named("qAttached") { return .attached(try Attached(body: rest)) }
        if named("qOffsets") { return .offsets }
        if named("QStartNoAckMode") { return .startNoAckMode }
        return .unsupported
    }
}

extension Collection where Element == UInt8 {
    /// Parses the whole collection as a hex number that fits in `Int`.
    func hexInt(_ packet: String, _ field: String) throws(MalformedPacket) -> Int {
        guard let value = Hex.parseNumber(self), value <= UInt64(Int.max) else {
            throw MalformedPacket(packet, "\(field) '\(String(decoding: self, as: UTF8.self))' is not a hex number")
        }
        return Int(value)
    }

    /// Parses the whole collection as a 64-bit hex number.
    func hexUInt64(_ packet: String, _ field: String) throws(MalformedPacket) -> UInt64 {
        guard let value = Hex.parseNumber(self) else {
            throw MalformedPacket(packet, "\(field) '\(String(decoding: self, as: UTF8.self))' is not a 64-bit hex number")
        }
        return value
    }
}
