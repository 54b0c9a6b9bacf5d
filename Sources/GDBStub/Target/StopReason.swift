// emud: the GDB remote protocol. GPL-2.0-or-later.

/// A signal number as gdb numbers them (its own table, not the host's `<signal.h>`).
public struct GDBSignal: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let none = GDBSignal(rawValue: 0)
    public static let hangup = GDBSignal(rawValue: 1)
    /// Ctrl-C: what a target reports after ``DebugTarget/interrupt()``.
    public static let interrupt = GDBSignal(rawValue: 2)
    public static let quit = GDBSignal(rawValue: 3)
    public static let illegalInstruction = GDBSignal(rawValue: 4)
    /// Breakpoints, watchpoints and finished single steps.
    public static let trap = GDBSignal(rawValue: 5)
    public static let abort = GDBSignal(rawValue: 6)
    public static let floatingPointException = GDBSignal(rawValue: 8)
    public static let kill = GDBSignal(rawValue: 9)
    public static let busError = GDBSignal(rawValue: 10)
    public static let segmentationFault = GDBSignal(rawValue: 11)
    public static let terminate = GDBSignal(rawValue: 15)

    public var description: String { "signal \(rawValue)" }
}

/// Why the machine stopped, as reported to gdb.
///
/// Every case except the two that end the debuggee names the thread (vCPU) that caused the stop;
/// gdb makes it the current thread. In all-stop mode the whole machine is stopped when this is reported.
public enum StopReason: Equatable, Sendable {
    /// A plain signal: `.trap` after a single step, `.interrupt` after Ctrl-C, or a fault.
    case signal(GDBSignal, thread: Int)
    /// The thread hit a software breakpoint inserted with `Z0`; its pc is the breakpoint's address.
    case softwareBreakpoint(thread: Int)
    /// The thread hit a hardware breakpoint inserted with `Z1`.
    case hardwareBreakpoint(thread: Int)
    /// The thread's access to `address` triggered a watchpoint.
    case watchpoint(WatchpointKind, address: UInt64, thread: Int)
    /// The debuggee ended with an exit code (for example a semihosting exit); `W` packet.
    case exited(code: UInt8)
    /// The debuggee was ended by a signal; `X` packet.
    case terminated(GDBSignal)

    /// The thread that stopped, or nil when the debuggee has ended.
    public var thread: Int? {
        switch self {
        case .signal(_, let thread), .softwareBreakpoint(let thread), .hardwareBreakpoint(let thread),
            .watchpoint(_, _, let thread):
            return thread
        case .exited, .terminated:
            return nil
        }
    }

    /// True when the debuggee has ended and cannot be resumed.
    public var hasEnded: Bool { thread == nil }
}

/// The target's way to tell the attached debugger that the machine stopped.
///
/// Thread safe: call ``targetStopped(_:)`` from any thread (typically a vCPU thread that just hit a
/// breakpoint), even from inside ``DebugTarget/resume(actions:)``. The report is delivered to the
/// session on its own thread afterwards. After the session has ended, reports are dropped.
public struct StopReporter: Sendable {
    private let deliver: @Sendable (StopReason) -> Void

    /// `deliver` receives every report; it must be thread safe. ``GDBServer`` makes one per
    /// connection; tests make their own.
    public init(_ deliver: @escaping @Sendable (StopReason) -> Void) {
        self.deliver = deliver
    }

    /// Reports that the whole machine is stopped, once per ``DebugTarget/resume(actions:)``.
    public func targetStopped(_ reason: StopReason) {
        deliver(reason)
    }
}
