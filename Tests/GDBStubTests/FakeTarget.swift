// emud: tests for the GDB remote protocol. GPL-2.0-or-later.

import Foundation
import GDBStub

/// A two-vCPU machine with 4 KiB of RAM at 0x4000_0000 that records what the stub asks of it.
/// Thread safe by one lock, as a real target must be.
final class FakeTarget: DebugTarget, @unchecked Sendable {
    static let ramBase: UInt64 = 0x4000_0000
    static let ramSize = 0x1000

    struct Options {
        var threads = [1, 2]
        var breakpointKinds = BreakpointKind.all
        var execFilePath: String? = "/srv/guests/hello.elf"
        /// What Host I/O reads from `execFilePath`: every byte value, escapes included, and more than
        /// one packet's worth.
        var execFileContents: [UInt8]? = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
        var memoryMap: [MemoryRegion]? = [MemoryRegion(kind: .ram, start: FakeTarget.ramBase, length: 0x1000)]
        var monitorSupported = true
        var initialStop = StopReason.signal(.trap, thread: 1)
        /// Called (outside the lock) after every resume, to play a running machine.
        var onResume: (@Sendable (FakeTarget, [ThreadAction]) -> Void)?
        /// Called (outside the lock) after every interrupt.
        var onInterrupt: (@Sendable (FakeTarget) -> Void)?
    }

    private let lock = NSLock()
    private let options: Options
    private var _registers: [Int: [UInt8]] = [:]
    private var _memory = [UInt8](repeating: 0, count: FakeTarget.ramSize)
    private var _breakpoints: Set<Breakpoint> = []
    private var _resumes: [[ThreadAction]] = []
    private var _interrupts = 0
    private var _attaches = 0
    private var _detaches = 0
    private var _kills = 0
    private var _reporter: StopReporter?
    private var _monitorCommands: [String] = []

    init(_ options: Options = Options()) {
        self.options = options
        for thread in options.threads {
            // x_n = thread << 32 | n, pc = 0x4000_0000 + thread * 0x100, cpsr = 0x3c5, v_n bytes = n, fpsr/fpcr distinct.
            var bytes: [UInt8] = []
            for n in 0...30 { bytes += le(UInt64(thread) << 32 | UInt64(n)) }
            bytes += le(UInt64(0x4000_0ff0))
            bytes += le(FakeTarget.ramBase + UInt64(thread) * 0x100)
            bytes += le32(0x3c5)
            for n in 0...31 { bytes += [UInt8](repeating: UInt8(n), count: 16) }
            bytes += le32(0x1000_0000)
            bytes += le32(0x0300_0000)
            _registers[thread] = bytes
        }
        for i in 0..<FakeTarget.ramSize { _memory[i] = UInt8(truncatingIfNeeded: i) }
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    // MARK: What the tests inspect

    var breakpoints: Set<Breakpoint> { locked { _breakpoints } }
    var resumes: [[ThreadAction]] { locked { _resumes } }
    var interrupts: Int { locked { _interrupts } }
    var attaches: Int { locked { _attaches } }
    var detaches: Int { locked { _detaches } }
    var kills: Int { locked { _kills } }
    var reporter: StopReporter? { locked { _reporter } }
    var monitorCommands: [String] { locked { _monitorCommands } }
    func registers(_ thread: Int) -> [UInt8] { locked { _registers[thread] ?? [] } }
    func memory(at address: UInt64, count: Int) -> [UInt8] {
        locked {
            let start = Int(address - FakeTarget.ramBase)
            return Array(_memory[start..<(start + count)])
        }
    }

    // MARK: DebugTarget

    func attach(reporter: StopReporter) -> StopReason {
        locked {
            _attaches += 1
            _reporter = reporter
            return options.initialStop
        }
    }

    func detach() { locked { _detaches += 1; _breakpoints.removeAll() } }
    func kill() { locked { _kills += 1 } }

    var threads: [Int] { options.threads }

    func readRegisters(thread: Int) -> [UInt8] { locked { _registers[thread] ?? [] } }

    func writeRegister(thread: Int, number: Int, bytes: [UInt8]) -> Bool {
        locked {
            guard let range = AArch64RegisterLayout.range(of: number), var registers = _registers[thread] else {
                return false
            }
            registers.replaceSubrange(range, with: bytes)
            _registers[thread] = registers
            return true
        }
    }

    func readMemory(address: UInt64, length: Int) -> [UInt8]? {
        locked {
            guard address >= FakeTarget.ramBase, address < FakeTarget.ramBase + UInt64(FakeTarget.ramSize) else {
                return nil
            }
            let start = Int(address - FakeTarget.ramBase)
            return Array(_memory[start..<min(FakeTarget.ramSize, start + length)])
        }
    }

    func writeMemory(address: UInt64, bytes: [UInt8]) -> Bool {
        locked {
            guard address >= FakeTarget.ramBase,
                address + UInt64(bytes.count) <= FakeTarget.ramBase + UInt64(FakeTarget.ramSize)
            else { return false }
            let start = Int(address - FakeTarget.ramBase)
            _memory.replaceSubrange(start..<(start + bytes.count), with: bytes)
            return true
        }
    }

    func resume(actions: [ThreadAction]) {
        locked { _resumes.append(actions) }
        options.onResume?(self, actions)
    }
    func interrupt() {
        locked { _interrupts += 1 }
        options.onInterrupt?(self)
    }

    var supportedBreakpointKinds: Set<BreakpointKind> { options.breakpointKinds }

    func insertBreakpoint(_ breakpoint: Breakpoint) -> Bool {
        locked {
            guard breakpoint.address >= FakeTarget.ramBase else { return false }
            _breakpoints.insert(breakpoint)
            return true
        }
    }

    func removeBreakpoint(_ breakpoint: Breakpoint) -> Bool { locked { _breakpoints.remove(breakpoint) != nil } }

    var execFilePath: String? { options.execFilePath }
    func execFileContents() -> [UInt8]? { options.execFileContents }
    func threadDescription(_ thread: Int) -> String? { "CPU \(thread - 1) halted" }
    var memoryMap: [MemoryRegion]? { options.memoryMap }

    func monitor(command: String) -> String? {
        guard options.monitorSupported else { return nil }
        return locked {
            _monitorCommands.append(command)
            switch command {
            case "help": return "help -- this text\nregs -- nothing\n"
            case "big": return String(repeating: "0123456789", count: 2000)
            case "quiet": return ""
            default: return "unknown command '\(command)'; try 'monitor help'\n"
            }
        }
    }
}

func le(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

/// Frames `payload` the way gdb does (no escaping needed for text packets).
func frame(_ payload: String) -> [UInt8] { PacketEncoder.encode(payload) }

/// Bytes as text for readable expectations; each byte becomes the scalar with its value, so binary
/// bytes survive.
func text(_ bytes: some Sequence<UInt8>) -> String { String(bytes.map { Character(Unicode.Scalar($0)) }) }
