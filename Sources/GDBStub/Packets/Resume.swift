// emud: the GDB remote protocol. GPL-2.0-or-later.

/// `c [addr]`, `C sig[;addr]`, `s [addr]`, `S sig[;addr]`: the resume packets gdb uses when the stub
/// lacks `vCont`. Kept because other clients still send them.
public struct LegacyResume: Equatable, Sendable {
    public var step: Bool
    public var signal: GDBSignal?
    /// Where to resume, if not at the current pc.
    public var address: UInt64?

    public init(step: Bool, signal: GDBSignal? = nil, address: UInt64? = nil) {
        self.step = step
        self.signal = signal
        self.address = address
    }

    init(letter: UInt8, body: ArraySlice<UInt8>) throws(MalformedPacket) {
        let name = String(UnicodeScalar(letter))
        step = letter == UInt8(ascii: "s") || letter == UInt8(ascii: "S")
        var addressField = body
        if letter == UInt8(ascii: "C") || letter == UInt8(ascii: "S") {
            let signalField: ArraySlice<UInt8>
            if let (sig, rest) = body.splitOnce(at: UInt8(ascii: ";")) {
                signalField = sig
                addressField = rest
            } else {
                signalField = body
                addressField = body[body.endIndex...]
            }
            let number = try signalField.hexInt(name, "signal")
            guard number <= Int(UInt8.max) else { throw MalformedPacket(name, "signal \(number) out of range") }
            signal = GDBSignal(rawValue: UInt8(number))
        } else {
            signal = nil
        }
        address = addressField.isEmpty ? nil : try addressField.hexUInt64(name, "address")
    }
}

/// `vCont;action[:thread-id][;action[:thread-id]]...`: resume threads individually.
///
/// Each thread takes the first action whose thread-id selects it (an action without one selects
/// every thread); threads no action selects stay stopped.
public struct VCont: Equatable, Sendable {
    public struct Action: Equatable, Sendable {
        public var action: ResumeAction
        /// nil selects every thread.
        public var thread: ThreadID?

        public init(_ action: ResumeAction, thread: ThreadID? = nil) {
            self.action = action
            self.thread = thread
        }
    }

    public var actions: [Action]

    public init(actions: [Action]) { self.actions = actions }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        actions = []
        for field in body.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false) {
            let actionText: ArraySlice<UInt8>
            var thread: ThreadID?
            if let (action, id) = field.splitOnce(at: UInt8(ascii: ":")) {
                actionText = action
                thread = try ThreadID(parsing: id, packet: "vCont")
            } else {
                actionText = field
            }
            actions.append(Action(try Self.action(actionText), thread: thread))
        }
        if actions.isEmpty { throw MalformedPacket("vCont", "no actions") }
    }

    private static func action(_ text: ArraySlice<UInt8>) throws(MalformedPacket) -> ResumeAction {
        func signal() throws(MalformedPacket) -> GDBSignal {
            let number = try text.dropFirst().hexInt("vCont", "signal")
            guard number <= Int(UInt8.max) else { throw MalformedPacket("vCont", "signal \(number) out of range") }
            return GDBSignal(rawValue: UInt8(number))
        }
        switch text.first {
        case UInt8(ascii: "c") where text.count == 1: return .continue(signal: nil)
        case UInt8(ascii: "s") where text.count == 1: return .step(signal: nil)
        case UInt8(ascii: "t") where text.count == 1: return .hold
        case UInt8(ascii: "C"): return .continue(signal: try signal())
        case UInt8(ascii: "S"): return .step(signal: try signal())
        default:
            throw MalformedPacket(
                "vCont", "unsupported action '\(String(decoding: text, as: UTF8.self))' (supported: c, C, s, S, t)")
        }
    }
}
