// emud: the GDB remote protocol. GPL-2.0-or-later.

/// Which accesses a watchpoint catches (`Z2`, `Z3`, `Z4`), and how its hit is reported
/// (`watch`, `rwatch`, `awatch`).
public enum WatchpointKind: Hashable, Sendable, CaseIterable {
    case write
    case read
    case access
}

/// The kinds of breakpoint gdb can ask for with `Z`/`z`.
public enum BreakpointKind: Hashable, Sendable {
    /// `Z0`: a software breakpoint; the target decides how (gdb does not write memory for it).
    case software
    /// `Z1`: a hardware breakpoint; works in read-only memory.
    case hardware
    /// `Z2` (write), `Z3` (read), `Z4` (access).
    case watchpoint(WatchpointKind)

    /// Every kind, for targets that support them all.
    public static let all: Set<BreakpointKind> = [
        .software, .hardware, .watchpoint(.write), .watchpoint(.read), .watchpoint(.access),
    ]
}

/// A breakpoint or watchpoint as gdb asked for it.
public struct Breakpoint: Hashable, Sendable, CustomStringConvertible {
    public var kind: BreakpointKind
    public var address: UInt64
    /// For breakpoints, gdb's "kind" field: the size of the instruction to break on (4 for A64).
    /// For watchpoints, the number of bytes watched from `address`.
    public var length: Int

    public init(kind: BreakpointKind, address: UInt64, length: Int) {
        self.kind = kind
        self.address = address
        self.length = length
    }

    public var description: String {
        "\(kind) at 0x\(String(address, radix: 16)) length \(length)"
    }
}
