import Foundation
import GDBStub
import Machine
import Plugins

/// Binds the GDB stub to one machine: all-stop run control, registers, memory, breakpoints and watchpoints.
///
/// The stub calls every method from its event-loop thread, one at a time. Stops reach gdb through the
/// `StopReporter` from vCPU threads (breakpoints, steps, watchpoints) or from the machine's finish callback.
/// Reading state for gdb never changes the machine: registers and RAM are read while the machine is stopped,
/// and device registers are not read at all (a read can change a device).
final class GDBAdapter: DebugTarget, @unchecked Sendable {
    let machine: Machine
    weak var plugins: PluginHost?
    private let lock = NSLock()
    private var reporter: StopReporter?
    private var softwareBreakpoints: Set<UInt64> = []
    private var hardwareBreakpoints: Set<UInt64> = []
    private var watchpoints: [Watchpoint] = []
    /// vCPU and reason of the last stop, to resume past it.
    private var lastStop: DebugStopEvent?
    /// Our subscription to the machine's stops and end.
    private var observation: MachineObservation?

    init(machine: Machine, plugins: PluginHost?) {
        self.machine = machine
        self.plugins = plugins
        observation = machine.observe(
            debugStop: { [weak self] event in self?.debugStopped(event) },
            finish: { [weak self] state in self?.finished(state) })
    }

    deinit { observation?.cancel() }

    private func currentReporter() -> StopReporter? {
        lock.lock()
        defer { lock.unlock() }
        return reporter
    }

    private func debugStopped(_ event: DebugStopEvent) {
        lock.lock()
        lastStop = event
        let hardware = hardwareBreakpoints
        let r = reporter
        lock.unlock()
        let thread = event.cpu + 1
        switch event.reason {
        case .breakpoint(let pc):
            r?.targetStopped(hardware.contains(pc) ? .hardwareBreakpoint(thread: thread) : .softwareBreakpoint(thread: thread))
        case .watchpoint(let kind, let address):
            let k: WatchpointKind = kind == .write ? .write : (kind == .read ? .read : .access)
            r?.targetStopped(.watchpoint(k, address: address, thread: thread))
        default:
            r?.targetStopped(.signal(.trap, thread: thread))
        }
    }

    private func finished(_ state: MachineState) {
        switch state {
        case .exited(let code): currentReporter()?.targetStopped(.exited(code: UInt8(truncatingIfNeeded: code)))
        default: currentReporter()?.targetStopped(.terminated(.abort))
        }
    }

    // MARK: lifecycle

    func attach(reporter: StopReporter) -> StopReason {
        lock.lock()
        self.reporter = reporter
        lock.unlock()
        machine.pause(reason: "gdb")
        return .signal(.trap, thread: 1)
    }

    func detach() {
        lock.lock()
        reporter = nil
        softwareBreakpoints.removeAll()
        hardwareBreakpoints.removeAll()
        watchpoints.removeAll()
        lock.unlock()
        applyBreakpoints()
        prepareResume()
        machine.resume()
    }

    func kill() {
        lock.lock()
        reporter = nil
        lock.unlock()
        machine.terminate("killed by gdb")
    }

    var threads: [Int] { Array(1...machine.vcpus.count) }

    private func cpu(_ thread: Int) -> VCPU? {
        guard thread >= 1, thread <= machine.vcpus.count else { return nil }
        return machine.vcpus[thread - 1]
    }

    // MARK: registers

    func readRegisters(thread: Int) -> [UInt8] {
        guard let cpu = cpu(thread) else { return Array(repeating: 0, count: AArch64RegisterLayout.byteCount) }
        let s = cpu.state
        var out: [UInt8] = []
        out.reserveCapacity(AArch64RegisterLayout.byteCount)
        func append64(_ v: UInt64) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func append32(_ v: UInt32) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        for i in 0..<31 { append64(s.x[i]) }
        append64(s.x[31])
        append64(s.pc)
        append32(s.pstate)
        for i in 0..<32 { append64(s.v[2 * i]); append64(s.v[2 * i + 1]) }
        append32(s.fpsr)
        append32(s.fpcr)
        return out
    }

    func writeRegister(thread: Int, number: Int, bytes: [UInt8]) -> Bool {
        guard let cpu = cpu(thread), let size = AArch64RegisterLayout.size(of: number), bytes.count == size else { return false }
        var value: UInt64 = 0
        for (i, b) in bytes.prefix(8).enumerated() { value |= UInt64(b) << UInt64(8 * i) }
        var high: UInt64 = 0
        if bytes.count == 16 { for (i, b) in bytes[8..<16].enumerated() { high |= UInt64(b) << UInt64(8 * i) } }
        let s = cpu.state
        switch number {
        case 0...30: s.x[number] = value
        case AArch64RegisterLayout.sp: s.x[31] = value
        case AArch64RegisterLayout.pc: s.pc = value
        case AArch64RegisterLayout.cpsr: return s.restore(pstate: UInt32(truncatingIfNeeded: value))
        case AArch64RegisterLayout.v0..<(AArch64RegisterLayout.v0 + 32):
            let v = number - AArch64RegisterLayout.v0
            s.v[2 * v] = value
            s.v[2 * v + 1] = high
        case AArch64RegisterLayout.fpsr: s.fpsr = UInt32(truncatingIfNeeded: value)
        case AArch64RegisterLayout.fpcr: s.fpcr = UInt32(truncatingIfNeeded: value)
        default: return false
        }
        return true
    }

    // MARK: memory

    /// Memory is read and written at virtual addresses through the translation of the vCPU that stopped last
    /// (gdb's current thread after a stop), as QEMU's stub does; an unmapped address answers an error.
    func readMemory(address: UInt64, length: Int) -> [UInt8]? {
        guard length > 0 else { return [] }
        return machine.readVirtualMemory(cpu: debugCPU, address, length, partial: true)
    }

    func writeMemory(address: UInt64, bytes: [UInt8]) -> Bool {
        machine.writeVirtualMemory(cpu: debugCPU, address, bytes)
    }

    /// The vCPU whose translation gdb's memory accesses use.
    private var debugCPU: Int {
        lock.lock()
        defer { lock.unlock() }
        return lastStop?.cpu ?? 0
    }

    // MARK: execution

    /// Lets every vCPU run past the breakpoint or watchpoint it is stopped at.
    private func prepareResume() {
        machine.prepareToResumeFromDebugStop()
        lock.lock()
        lastStop = nil
        lock.unlock()
    }

    func resume(actions: [ThreadAction]) {
        prepareResume()
        if let step = actions.first(where: { if case .step = $0.action { return true } else { return false } }),
           step.thread >= 1, step.thread <= machine.vcpus.count {
            machine.step(cpu: step.thread - 1)
        } else {
            machine.resume()
        }
    }

    func interrupt() {
        machine.pause(reason: "gdb")
        currentReporter()?.targetStopped(.signal(.interrupt, thread: 1))
    }

    // MARK: breakpoints

    var supportedBreakpointKinds: Set<BreakpointKind> { BreakpointKind.all }

    func insertBreakpoint(_ breakpoint: Breakpoint) -> Bool {
        update(breakpoint, insert: true)
    }

    func removeBreakpoint(_ breakpoint: Breakpoint) -> Bool {
        update(breakpoint, insert: false)
    }

    /// At most this many breakpoints and watchpoints at once: each costs the run loop a look-up, and a client
    /// inserting without end must not grow the daemon without bound. More get an error reply.
    static let maximumBreakpoints = 1024
    static let maximumWatchpoints = 64

    private func update(_ breakpoint: Breakpoint, insert: Bool) -> Bool {
        lock.lock()
        if insert {
            let full: Bool
            switch breakpoint.kind {
            case .software, .hardware:
                full = softwareBreakpoints.count + hardwareBreakpoints.count >= Self.maximumBreakpoints
                    && !softwareBreakpoints.contains(breakpoint.address) && !hardwareBreakpoints.contains(breakpoint.address)
            case .watchpoint:
                full = watchpoints.count >= Self.maximumWatchpoints
            }
            if full { lock.unlock(); return false }
        }
        switch breakpoint.kind {
        case .software:
            if insert { softwareBreakpoints.insert(breakpoint.address) } else { softwareBreakpoints.remove(breakpoint.address) }
        case .hardware:
            if insert { hardwareBreakpoints.insert(breakpoint.address) } else { hardwareBreakpoints.remove(breakpoint.address) }
        case .watchpoint(let kind):
            guard breakpoint.length > 0, breakpoint.length <= 1 << 20 else { lock.unlock(); return false }
            let k: WatchKind = kind == .write ? .write : (kind == .read ? .read : .access)
            let w = Watchpoint(address: breakpoint.address, length: UInt64(breakpoint.length), kind: k)
            if insert { watchpoints.append(w) } else if let i = watchpoints.firstIndex(of: w) { watchpoints.remove(at: i) }
        }
        lock.unlock()
        applyBreakpoints()
        return true
    }

    /// Software breakpoints never write guest memory: the translator ends blocks before them and the run loop
    /// stops there; changing them flushes translated code.
    private func applyBreakpoints() {
        lock.lock()
        let all = softwareBreakpoints.union(hardwareBreakpoints)
        let watch = watchpoints
        lock.unlock()
        machine.setDebugPoints(breakpoints: all, watchpoints: watch)
    }

    // MARK: optional features

    var execFilePath: String? {
        guard let path = machine.image?.path else { return nil }
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The largest image served to gdb.
    static let largestExecFile = 512 << 20

    /// Read from disk when gdb opens it, and served only if it still holds exactly the program the
    /// machine loaded: the path may have been replaced since (a symbolic link to a file the daemon
    /// may read but the machine's owner may not, a device, a FIFO), and gdb must never get anything but
    /// the image. Regular files only, no symbolic link as the last component, bounded in size.
    func execFileContents() -> [UInt8]? {
        guard let image = machine.image, let path = execFilePath,
            let bytes = Self.readRegularFile(path, limit: Self.largestExecFile),
            Self.file(bytes, holds: image)
        else { return nil }
        return bytes
    }

    private static func readRegularFile(_ path: String, limit: Int) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_size >= 0,
            status.st_size <= limit
        else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { buffer in
                read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
            }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return nil }
            filled += count
        }
        return bytes
    }

    /// True if `bytes` is the file `image` was loaded from: the same ELF entry and segments, or for a
    /// flat binary the same bytes.
    private static func file(_ bytes: [UInt8], holds image: GuestImage) -> Bool {
        if let parsed = try? ELFLoader.parse(bytes, path: image.path), parsed.entry == image.entry,
            parsed.segments.count == image.segments.count,
            zip(parsed.segments, image.segments).allSatisfy({
                $0.address == $1.address && $0.memorySize == $1.memorySize && $0.bytes == $1.bytes
            })
        {
            return true
        }
        return image.segments.count == 1 && image.segments[0].bytes == bytes
    }

    /// "CPU 0", "CPU 1"...: the name `info threads` shows, in the numbering the guest's MPIDR uses.
    func threadDescription(_ thread: Int) -> String? {
        guard cpu(thread) != nil else { return nil }
        return "CPU \(thread - 1)" + (machine.isPoweredOn(cpu: thread - 1) ? "" : ", powered off")
    }

    /// No memory map: gdb refuses every address outside a map it was given, and with the MMU on the guest's
    /// addresses are virtual (a kernel's 0xffff8000...), which a map of physical RAM would not cover. Each read
    /// goes to the stub, which answers an error for what the stopped vCPU cannot translate, as QEMU's does.
    var memoryMap: [MemoryRegion]? { nil }

    func monitor(command: String) -> String? {
        MonitorCommands.run(command.trimmingCharacters(in: .whitespaces), machine: machine, plugins: plugins, cpu: debugCPU)
    }
}

/// gdb's `monitor` commands.
enum MonitorCommands {
    static let help = """
    emud monitor commands:
      help           this list
      info machine   board, memory, vCPUs, state, instructions executed, taint
      info tb        translation-block statistics
      info jit       the translator (--engine jit): code buffer, blocks compiled, links, what it delegates
      tb-flush       empty every vCPU's translation-block cache
      reset          reset the machine (reload the image, vCPU 0 at its entry)
      plugins        loaded plugins with their declared licenses
      info mmu       the translation regime of the current vCPU (MMU on or off, TTBRs, granules, ASID)
      translate ADDR where a virtual address maps for the current vCPU (physical address, level, permissions)

    """

    static func run(_ command: String, machine: Machine, plugins: PluginHost?, cpu: Int = 0) -> String {
        let port = machine.vcpus[max(0, min(cpu, machine.vcpus.count - 1))].port
        if command.hasPrefix("translate") {
            let argument = command.dropFirst("translate".count).trimmingCharacters(in: .whitespaces)
            let digits = argument.hasPrefix("0x") ? String(argument.dropFirst(2)) : argument
            guard !digits.isEmpty, let address = UInt64(digits, radix: argument.hasPrefix("0x") ? 16 : 10) else {
                return "usage: monitor translate ADDRESS (decimal, or hex with 0x)\n"
            }
            return port.describeTranslation(address)
        }
        switch command {
        case "info mmu":
            return port.describeRegime()
        case "help", "":
            return help
        case "info machine":
            let state: String
            switch machine.state {
            case .exited(let code): state = "exited (\(code))"
            case .failed(let why): state = "failed: \(why)"
            case .stopped(let why): state = "stopped (\(why))"
            default: state = machine.state.name
            }
            return """
            machine \(machine.id): board virt, cpu cortex-a76-like (Armv8.2-A)
              memory: \(machine.memory.ramSize >> 20) MiB at 0x\(String(machine.memory.ramBase, radix: 16))
              vCPUs: \(machine.vcpus.count)
              state: \(state)
              instructions executed: \(machine.instructionsExecuted)
              tainted: \((plugins?.tainted ?? false) ? "yes (a plugin with a GPL-incompatible license was loaded)" : "no")

            """
        case "info tb":
            let t = machine.translationStatistics
            return """
            translation blocks: \(t.liveBlocks) live, \(t.blocksTranslated) translated (\(t.instructionsTranslated) instructions)
              flushes: \(t.flushes), invalidations: \(t.invalidations)

            """
        case "info jit":
            guard let j = machine.jitStatistics else { return "the translator is off: this machine interprets (--engine interp)\n" }
            let delegated = j.delegatedByOperation.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(12)
                .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return """
            translator: x86-64, \(machine.vcpus.count) code buffer(s)
              code buffer: \(j.codeBytesUsed) of \(j.codeBytesCapacity) bytes used, \(j.bufferResets) reset(s), full \(j.bufferFull) time(s)
              blocks: \(j.blocksCompiled) compiled, \(j.blocksInterpreted) interpreted; exits linked: \(j.links), indirect-branch cache ways filled: \(j.indirectLinks)
              operations: \(j.operationsCompiled) compiled, \(j.operationsDelegated) handed to the interpreter
              translation: \(String(format: "%.1f ms", Double(j.compileNanoseconds) / 1e6)) for \(j.blocksCompiled) blocks\(j.blocksCompiled > 0 ? String(format: " (%.1f µs a block)", Double(j.compileNanoseconds) / 1e3 / Double(j.blocksCompiled)) : "")
              most delegated: \(delegated.isEmpty ? "none" : delegated)

            """
        case "tb-flush":
            machine.tbFlush()
            return "translation-block caches flushed\n"
        case "reset":
            machine.reset()
            return "machine reset\n"
        case "plugins":
            let list = plugins?.loaded ?? []
            if list.isEmpty { return "no plugins loaded\n" }
            return list.map { "\($0.id): \($0.path) license \($0.license) (\($0.gplCompatible ? "GPL-compatible" : "not GPL-compatible"))" }
                .joined(separator: "\n") + "\n"
        default:
            return "unknown monitor command '\(command)'\n" + help
        }
    }
}
