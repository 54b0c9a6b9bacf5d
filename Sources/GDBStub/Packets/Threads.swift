// emud: the GDB remote protocol. GPL-2.0-or-later.

/// A thread-id field: `tid`, or with the multiprocess extension `pPID.TID` or `pPID`.
/// Each part is a hex number, `-1` (all) or `0` (any).
public struct ThreadID: Equatable, Sendable, CustomStringConvertible {
    public enum Part: Equatable, Sendable {
        case all
        case any
        case id(Int)
    }

    /// The process part, or nil when the field had no `p` prefix.
    public var process: Part?
    /// The thread part; `.all` when the field was `pPID` alone.
    public var thread: Part

    public init(process: Part? = nil, thread: Part) {
        self.process = process
        self.thread = thread
    }

    /// The one process this stub presents: the whole machine.
    public static let processID = 1

    /// Parses a whole field.
    public init(parsing text: some Collection<UInt8>, packet: String) throws(MalformedPacket) {
        if text.first == UInt8(ascii: "p") {
            let rest = text.dropFirst()
            if let (process, thread) = rest.splitOnce(at: UInt8(ascii: ".")) {
                self.process = try Self.part(process, packet)
                self.thread = try Self.part(thread, packet)
            } else {
                self.process = try Self.part(rest, packet)
                self.thread = .all
            }
        } else {
            self.process = nil
            self.thread = try Self.part(text, packet)
        }
    }

    private static func part(_ text: some Collection<UInt8>, _ packet: String) throws(MalformedPacket) -> Part {
        if text.elementsEqual("-1".utf8) { return .all }
        let value = try text.hexInt(packet, "thread id")
        return value == 0 ? .any : .id(value)
    }

    /// True if this id names our process (or does not name one).
    public var isOurProcess: Bool {
        switch process {
        case nil, .all?, .any?: return true
        case .id(let pid)?: return pid == Self.processID
        }
    }

    /// True if this id selects `thread`: the same id, or all/any threads of our process.
    public func matches(_ thread: Int) -> Bool {
        guard isOurProcess else { return false }
        switch self.thread {
        case .all, .any: return true
        case .id(let id): return id == thread
        }
    }

    public var description: String {
        func text(_ part: Part) -> String {
            switch part {
            case .all: return "-1"
            case .any: return "0"
            case .id(let id): return String(id, radix: 16)
            }
        }
        guard let process else { return text(thread) }
        return "p\(text(process)).\(text(thread))"
    }
}

/// `Hg id` / `Hc id`: choose the thread for later register accesses (`g`) or for the legacy
/// resume packets (`c`, `s`).
public struct SetThread: Equatable, Sendable {
    public enum Operation: Equatable, Sendable {
        case general
        case resume
    }

    public var operation: Operation
    public var thread: ThreadID

    public init(operation: Operation, thread: ThreadID) {
        self.operation = operation
        self.thread = thread
    }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        switch body.first {
        case UInt8(ascii: "g"): operation = .general
        case UInt8(ascii: "c"): operation = .resume
        default: throw MalformedPacket("H", "expected 'Hg' or 'Hc' followed by a thread id")
        }
        thread = try ThreadID(parsing: body.dropFirst(), packet: "H")
    }
}

/// `T id`: is this thread alive?
public struct ThreadAlive: Equatable, Sendable {
    public var thread: ThreadID

    public init(thread: ThreadID) { self.thread = thread }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        thread = try ThreadID(parsing: body, packet: "T")
    }
}

/// `qThreadExtraInfo,THREAD`: a line of text about a thread, shown by gdb's `info threads`.
public struct ThreadExtraInfo: Equatable, Sendable {
    public var thread: ThreadID

    public init(thread: ThreadID) { self.thread = thread }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        thread = try ThreadID(parsing: body, packet: "qThreadExtraInfo")
    }
}
