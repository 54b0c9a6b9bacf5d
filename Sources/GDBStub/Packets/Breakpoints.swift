// emud: the GDB remote protocol. GPL-2.0-or-later.

/// `Ztype,addr,kind` / `ztype,addr,kind`: insert or remove a breakpoint (types 0 and 1) or a
/// watchpoint (types 2 write, 3 read, 4 access). Condition and command lists after `;` are ignored:
/// this stub does not advertise `ConditionalBreakpoints`, so gdb evaluates conditions itself.
public struct BreakpointPacket: Equatable, Sendable {
    public var insert: Bool
    public var breakpoint: Breakpoint

    public init(insert: Bool, breakpoint: Breakpoint) {
        self.insert = insert
        self.breakpoint = breakpoint
    }

    /// nil for a breakpoint type this protocol version does not define, which gdb expects to be
    /// answered as unsupported.
    init?(insert: Bool, body: ArraySlice<UInt8>) throws(MalformedPacket) {
        let name = insert ? "Z" : "z"
        let fields = body.prefix { $0 != UInt8(ascii: ";") }.split(
            separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        guard fields.count == 3 else { throw MalformedPacket(name, "expected '\(name)type,addr,kind'") }
        let kind: BreakpointKind
        switch try fields[0].hexInt(name, "type") {
        case 0: kind = .software
        case 1: kind = .hardware
        case 2: kind = .watchpoint(.write)
        case 3: kind = .watchpoint(.read)
        case 4: kind = .watchpoint(.access)
        default: return nil
        }
        self.insert = insert
        self.breakpoint = Breakpoint(
            kind: kind, address: try fields[1].hexUInt64(name, "address"),
            length: try fields[2].hexInt(name, "kind"))
    }
}
