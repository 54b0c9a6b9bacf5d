// emud: the GDB remote protocol. GPL-2.0-or-later.

/// `D` or `D;pid`: the debugger leaves; the machine keeps running.
public struct Detach: Equatable, Sendable {
    public var process: Int?

    public init(process: Int? = nil) { self.process = process }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        if body.isEmpty {
            process = nil
        } else if body.first == UInt8(ascii: ";") {
            process = try body.dropFirst().hexInt("D", "process id")
        } else {
            throw MalformedPacket("D", "expected 'D' or 'D;pid'")
        }
    }
}

/// `vKill;pid`: kill the debuggee (what gdb sends instead of `k` with the multiprocess extension).
public struct VKill: Equatable, Sendable {
    public var process: Int

    public init(process: Int) { self.process = process }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        process = try body.hexInt("vKill", "process id")
    }
}
