// emud: the GDB remote protocol. GPL-2.0-or-later.

/// A machine that gdb can debug, in all-stop mode.
///
/// The emulator implements this protocol in an adapter; this module never sees the emulator.
///
/// ## Threads and calls
/// Every method is called on one thread at a time, never concurrently: a ``GDBServer`` calls the
/// target only from its own event-loop thread, and only one debugger session is attached at a time.
/// Calls other than ``attach(reporter:)`` happen only while a debugger is attached; apart from
/// ``resume(actions:)`` and ``interrupt()`` they happen only while the whole machine is stopped.
/// Methods should return promptly; ``attach(reporter:)`` may block for the short time the vCPUs need
/// to reach a stop.
///
/// ## Lifecycle
/// 1. A debugger connects: ``attach(reporter:)`` stops every vCPU (or finds the machine held before
///    its first instruction) and says why the machine is stopped.
/// 2. gdb inspects and changes state, then calls ``resume(actions:)``. The target runs and later
///    reports exactly one stop through the ``StopReporter`` given to `attach`, after stopping every
///    vCPU. ``interrupt()`` asks for such a stop early (reported as ``GDBSignal/interrupt``).
/// 3. The session ends: exactly one of ``detach()`` or ``kill()`` is called, whether gdb asked for it
///    or the connection dropped. The reporter is then dead; reporting through it does nothing.
///
/// ## Optional features
/// Features with a default implementation are optional. A target that does not provide one is not
/// advertised to gdb as having it (for example `qXfer:exec-file:read+` when ``execFilePath`` is nil),
/// so gdb falls back to what it does without the feature.
public protocol DebugTarget: AnyObject, Sendable {
    // MARK: Lifecycle

    /// A debugger has connected. Stop the whole machine if it runs (or keep it held if it has not
    /// started yet), remember `reporter` for the stops to come, and return why the machine is stopped,
    /// usually `.signal(.trap, thread: 1)` for a machine held at reset.
    func attach(reporter: StopReporter) -> StopReason

    /// The debugger has gone (`D` packet or a dropped connection). Remove every breakpoint and
    /// watchpoint it inserted and let the machine run freely. This may come while the machine runs
    /// (gdb went away during a `continue`); a stop reported after it is dropped.
    func detach()

    /// The debugger asked to kill the debuggee (`k`, `vKill`). Stop the machine for good
    /// (what that means, power-off or reset, is the emulator's policy).
    func kill()

    // MARK: Threads

    /// The vCPUs as thread ids, 1-based and in a stable order (gdb shows them as `Thread 1.N`).
    /// Must not be empty.
    var threads: [Int] { get }

    // MARK: Registers

    /// All registers of one thread in `g`-packet order, exactly ``AArch64RegisterLayout/byteCount``
    /// bytes: x0...x30, sp, pc (8 bytes each), cpsr (4), v0...v31 (16 each), fpsr, fpcr (4 each),
    /// every value little-endian. Never changes the machine.
    func readRegisters(thread: Int) -> [UInt8]

    /// Sets register `number` (numbering of ``AArch64RegisterLayout``) of one thread. `bytes` has
    /// exactly that register's size, little-endian. Returns false if the register cannot be written.
    func writeRegister(thread: Int, number: Int, bytes: [UInt8]) -> Bool

    // MARK: Memory

    /// Reads guest memory at addresses as the vCPUs see them now (through the current translation
    /// regime when the MMU is on, like a load would). May return fewer bytes than asked when the range
    /// runs into an inaccessible page; returns nil or an empty array when the first byte is inaccessible.
    /// Never changes the machine: no device side effects, no page-table accessed-flag updates.
    func readMemory(address: UInt64, length: Int) -> [UInt8]?

    /// Writes guest memory (gdb uses this for `set var`, loading programs, and inserting breakpoint
    /// instructions when the target lacks software breakpoints). Must invalidate any translated code
    /// covering the range. Returns false if any byte could not be written.
    func writeMemory(address: UInt64, bytes: [UInt8]) -> Bool

    // MARK: Execution

    /// Resumes the machine. `actions` lists every thread of ``threads`` exactly once, in that order.
    /// Returns at once; the stop comes later through the reporter (it may be reported from any
    /// thread, even before `resume` returns).
    func resume(actions: [ThreadAction])

    /// gdb pressed Ctrl-C while the machine runs: stop every vCPU and report
    /// `.signal(.interrupt, thread:)`. If a stop is already being reported, do nothing more:
    /// one resume, one stop.
    func interrupt()

    // MARK: Breakpoints and watchpoints

    /// The kinds ``insertBreakpoint(_:)`` accepts. gdb is told about `swbreak`/`hwbreak` stop reasons
    /// only if `.software`/`.hardware` are in the set; for kinds outside it gdb falls back (for example
    /// to writing `brk` instructions itself, or to single-stepping for watchpoints).
    var supportedBreakpointKinds: Set<BreakpointKind> { get }

    /// Inserts a breakpoint or watchpoint. Inserting the same one twice is not an error.
    /// Returns false if it cannot be inserted (gdb reports an error to the user).
    func insertBreakpoint(_ breakpoint: Breakpoint) -> Bool

    /// Removes a breakpoint or watchpoint inserted earlier. Returns false if there was none.
    func removeBreakpoint(_ breakpoint: Breakpoint) -> Bool

    // MARK: Optional features

    /// The path of the program the machine runs (an ELF on the host), offered to gdb through
    /// `qXfer:exec-file:read` so that `gdb` with no file argument can load symbols. Default: nil.
    var execFilePath: String? { get }

    /// The bytes of the file at ``execFilePath``, served read-only to gdb through Host I/O
    /// (`vFile:open` of exactly that path, `pread`, `fstat`, `close`) so that gdb reads the symbols
    /// from the target, with no local copy. Nothing else is ever opened. Called on each open; nil
    /// (the default) when the file cannot be read, and then gdb's open fails with ENOENT.
    func execFileContents() -> [UInt8]?

    /// A short description of a thread, shown by gdb's `info threads` (`qThreadExtraInfo` and the
    /// threads document), for example "CPU 1 halted". Default: nil, no description.
    func threadDescription(_ thread: Int) -> String?

    /// The memory regions gdb may access, offered through `qXfer:memory-map:read`. When given, gdb
    /// refuses to touch addresses outside these regions, so return nil (the default) when the guest
    /// uses virtual addresses the map would not cover.
    var memoryMap: [MemoryRegion]? { get }

    /// Runs a `monitor` command (`qRcmd`) and returns its output, which gdb prints as is (end lines
    /// with "\n"). An unknown command should return a message saying so and how to get help.
    /// Return nil (the default) when monitor commands are not supported at all.
    func monitor(command: String) -> String?
}

extension DebugTarget {
    public var execFilePath: String? { nil }
    public func execFileContents() -> [UInt8]? { nil }
    public func threadDescription(_ thread: Int) -> String? { nil }
    public var memoryMap: [MemoryRegion]? { nil }
    public func monitor(command: String) -> String? { nil }
}

/// What one thread does when the machine resumes.
public enum ResumeAction: Equatable, Sendable {
    /// Run freely, delivering `signal` first if there is one (bare-metal targets may ignore it).
    case `continue`(signal: GDBSignal?)
    /// Execute exactly one instruction, then stop and report `.signal(.trap, thread:)`.
    case step(signal: GDBSignal?)
    /// Stay stopped while the others run.
    case hold
}

/// One thread's part in a resume.
public struct ThreadAction: Equatable, Sendable, CustomStringConvertible {
    public var thread: Int
    public var action: ResumeAction

    public init(thread: Int, action: ResumeAction) {
        self.thread = thread
        self.action = action
    }

    public var description: String { "thread \(thread): \(action)" }
}

/// A range of guest memory for gdb's memory map.
public struct MemoryRegion: Equatable, Sendable {
    public enum Kind: String, Equatable, Sendable {
        /// Readable and writable.
        case ram
        /// Readable only; gdb will not write it (and so uses hardware breakpoints there).
        case rom
    }

    public var kind: Kind
    public var start: UInt64
    public var length: UInt64

    public init(kind: Kind, start: UInt64, length: UInt64) {
        self.kind = kind
        self.start = start
        self.length = length
    }
}
