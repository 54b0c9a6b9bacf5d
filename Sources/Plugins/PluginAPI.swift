import CCapstone
import CEmudPlugin
import Foundation
import Machine

/// A block being translated, as a plugin's translation callback sees it (`struct emud_tb *`).
/// Lives only for the duration of the callbacks; the hooks plugins register are collected in `hooks`.
final class TranslationContext {
    let block: BlockDescription
    let plugin: LoadedPlugin
    let image: GuestImage?
    var hooks: [InstrumentationHook] = []
    var instructions: [Int: InstructionContext] = [:]
    private var capstone: csh = 0
    private var capstoneOpen = false
    private var texts: [UnsafeMutablePointer<CChar>] = []

    init(block: BlockDescription, plugin: LoadedPlugin, image: GuestImage?) {
        self.block = block
        self.plugin = plugin
        self.image = image
    }

    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    func instruction(_ index: Int) -> InstructionContext? {
        guard index >= 0, index < block.words.count else { return nil }
        if let existing = instructions[index] { return existing }
        let insn = InstructionContext(tb: self, index: index)
        instructions[index] = insn
        PluginRegistry.addInstruction(insn)
        return insn
    }

    /// Keeps a C string alive until the translation callbacks return.
    func keep(_ text: String) -> UnsafePointer<CChar>? {
        guard let p = strdup(text) else { return nil }
        texts.append(p)
        return UnsafePointer(p)
    }

    func disassemble(_ word: UInt32, at address: UInt64) -> String {
        if !capstoneOpen {
            guard cs_open(CS_ARCH_ARM64, CS_MODE_LITTLE_ENDIAN, &capstone) == CS_ERR_OK else { return ".inst 0x" + String(word, radix: 16) }
            capstoneOpen = true
        }
        var bytes = withUnsafeBytes(of: word.littleEndian, Array.init)
        var insn: UnsafeMutablePointer<cs_insn>? = nil
        let count = cs_disasm(capstone, &bytes, 4, address, 1, &insn)
        guard count == 1, let insn else { return ".inst 0x" + String(word, radix: 16) }
        defer { cs_free(insn, count) }
        let mnemonic = withUnsafeBytes(of: insn.pointee.mnemonic) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let operands = withUnsafeBytes(of: insn.pointee.op_str) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        return operands.isEmpty ? mnemonic : "\(mnemonic) \(operands)"
    }

    func symbol(at address: UInt64) -> String? {
        image?.symbol(at: address)?.name
    }

    func releaseText() {
        for p in texts { free(p) }
        texts.removeAll()
        if capstoneOpen { cs_close(&capstone); capstoneOpen = false }
    }
}

/// One instruction of a block being translated (`struct emud_insn *`).
final class InstructionContext {
    unowned let tb: TranslationContext
    let index: Int
    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }
    var address: UInt64 { tb.block.pc &+ UInt64(index) &* 4 }
    var physical: UInt64 { tb.block.physical &+ UInt64(index) &* 4 }
    var word: UInt32 { tb.block.words[index] }

    init(tb: TranslationContext, index: Int) {
        self.tb = tb
        self.index = index
    }
}

/// The function table handed to plugins (`struct emud_api`). Each entry checks the ids and handles it is given.
enum PluginAPI {
    static let table: UnsafePointer<emud_api> = {
        let p = UnsafeMutablePointer<emud_api>.allocate(capacity: 1)
        p.initialize(to: makeTable())
        return UnsafePointer(p)
    }()

    private static func registerCallback(_ id: UInt64, _ change: (inout LoadedPlugin.Callbacks) -> Void) -> Int32 {
        guard let plugin = PluginRegistry.plugin(id) else { return -1 }
        plugin.register(change)
        return 0
    }

    private static func inlineKind(_ op: Int32) -> InstrumentationHook.Kind? {
        switch op {
        case Int32(EMUD_INLINE_ADD_U64.rawValue): return .inlineAdd
        case Int32(EMUD_INLINE_STORE_U64.rawValue): return .inlineStore
        default: return nil
        }
    }

    private static func inlineHook(_ tb: TranslationContext, index: Int32, op: Int32, scoreboard: OpaquePointer?, offset: Int, value: UInt64) -> Int32 {
        guard let kind = inlineKind(op),
              let sb = PluginRegistry.scoreboard(UnsafeMutableRawPointer(scoreboard)),
              sb.pluginID == tb.plugin.id,
              // Written so that no offset a plugin passes can overflow: never `offset + 8`.
              offset >= 0, sb.elementSize >= 8, offset <= sb.elementSize - 8, offset % 8 == 0 else { return -1 }
        tb.hooks.append(InstrumentationHook(instruction: index, kind: kind, target: sb.base + offset, stride: sb.stride, value: value))
        return 0
    }

    private static func makeTable() -> emud_api {
        var api = emud_api()
        api.size = UInt32(MemoryLayout<emud_api>.size)
        api.register_vcpu_init_cb = { id, cb in
            guard let cb else { return -1 }
            return PluginAPI.registerCallback(id) { $0.vcpuInit.append(cb) }
        }
        api.register_vcpu_exit_cb = { id, cb in
            guard let cb else { return -1 }
            return PluginAPI.registerCallback(id) { $0.vcpuExit.append(cb) }
        }
        api.register_vcpu_idle_cb = { id, cb in
            guard let cb else { return -1 }
            return PluginAPI.registerCallback(id) { $0.vcpuIdle.append(cb) }
        }
        api.register_vcpu_resume_cb = { id, cb in
            guard let cb else { return -1 }
            return PluginAPI.registerCallback(id) { $0.vcpuResume.append(cb) }
        }
        api.register_tb_trans_cb = { id, cb in
            guard let cb else { return -1 }
            return PluginAPI.registerCallback(id) { $0.tbTrans.append(cb) }
        }
        api.register_exception_cb = { id, cb in
            guard let cb else { return -1 }
            return PluginAPI.registerCallback(id) { $0.exception.append(cb) }
        }
        api.register_flush_cb = { id, cb in
            guard let cb else { return -1 }
            return PluginAPI.registerCallback(id) { $0.flush.append(cb) }
        }
        api.register_atexit_cb = { id, cb in
            guard let cb else { return -1 }
            return PluginAPI.registerCallback(id) { $0.atExit.append(cb) }
        }
        api.register_query_cb = { id, cb in
            guard let cb else { return -1 }
            return PluginAPI.registerCallback(id) { $0.query = cb }
        }
        api.tb_n_insns = { tb in PluginRegistry.context(UnsafeRawPointer(tb)).map { $0.block.words.count } ?? 0 }
        api.tb_vaddr = { tb in PluginRegistry.context(UnsafeRawPointer(tb))?.block.pc ?? 0 }
        api.tb_get_insn = { tb, index in
            guard let context = PluginRegistry.context(UnsafeRawPointer(tb)), let insn = context.instruction(index) else { return nil }
            return OpaquePointer(insn.opaque)
        }
        api.insn_vaddr = { insn in PluginRegistry.instruction(UnsafeRawPointer(insn))?.address ?? 0 }
        api.insn_paddr = { insn in PluginRegistry.instruction(UnsafeRawPointer(insn))?.physical ?? 0 }
        api.insn_size = { insn in PluginRegistry.instruction(UnsafeRawPointer(insn)) == nil ? 0 : 4 }
        api.insn_word = { insn in PluginRegistry.instruction(UnsafeRawPointer(insn))?.word ?? 0 }
        api.insn_disas = { insn in
            guard let i = PluginRegistry.instruction(UnsafeRawPointer(insn)) else { return nil }
            return i.tb.keep(i.tb.disassemble(i.word, at: i.address))
        }
        api.insn_symbol = { insn in
            guard let i = PluginRegistry.instruction(UnsafeRawPointer(insn)), let name = i.tb.symbol(at: i.address) else { return nil }
            return i.tb.keep(name)
        }
        api.tb_register_exec_cb = { tb, cb, userdata in
            guard let context = PluginRegistry.context(UnsafeRawPointer(tb)), let cb else { return -1 }
            context.hooks.append(InstrumentationHook(instruction: 0, kind: .execute, callback: unsafeBitCast(cb, to: UnsafeRawPointer.self), userdata: userdata))
            return 0
        }
        api.tb_register_inline = { tb, op, sb, offset, value in
            guard let context = PluginRegistry.context(UnsafeRawPointer(tb)) else { return -1 }
            return PluginAPI.inlineHook(context, index: 0, op: op, scoreboard: sb, offset: offset, value: value)
        }
        api.insn_register_exec_cb = { insn, cb, userdata in
            guard let i = PluginRegistry.instruction(UnsafeRawPointer(insn)), let cb else { return -1 }
            i.tb.hooks.append(InstrumentationHook(instruction: Int32(i.index), kind: .execute, callback: unsafeBitCast(cb, to: UnsafeRawPointer.self), userdata: userdata))
            return 0
        }
        api.insn_register_inline = { insn, op, sb, offset, value in
            guard let i = PluginRegistry.instruction(UnsafeRawPointer(insn)) else { return -1 }
            return PluginAPI.inlineHook(i.tb, index: Int32(i.index), op: op, scoreboard: sb, offset: offset, value: value)
        }
        api.insn_register_mem_cb = { insn, cb, rw, userdata in
            guard let i = PluginRegistry.instruction(UnsafeRawPointer(insn)), let cb, (1...3).contains(rw) else { return -1 }
            i.tb.hooks.append(InstrumentationHook(instruction: Int32(i.index), kind: .memory, memoryFilter: UInt8(rw),
                                                  callback: unsafeBitCast(cb, to: UnsafeRawPointer.self), userdata: userdata))
            return 0
        }
        api.scoreboard_new = { id, size in
            guard let plugin = PluginRegistry.plugin(id), size > 0, size <= 1 << 20 else { return nil }
            let sb = Scoreboard(pluginID: id, elementSize: size, vcpus: plugin.host.machine.vcpus.count)
            plugin.addScoreboard(sb)
            return OpaquePointer(PluginRegistry.addScoreboard(sb))
        }
        api.scoreboard_find = { sbPointer, vcpu in
            guard let sb = PluginRegistry.scoreboard(UnsafeMutableRawPointer(sbPointer)),
                  let plugin = PluginRegistry.plugin(sb.pluginID), Int(vcpu) < plugin.host.machine.vcpus.count else { return nil }
            return sb.base + Int(vcpu) * sb.stride
        }
        api.num_vcpus = { id in PluginRegistry.plugin(id).map { UInt32($0.host.machine.vcpus.count) } ?? 0 }
        api.read_register = { id, vcpu, name, value in
            guard let plugin = PluginRegistry.plugin(id), let name, let value,
                  Int(vcpu) < plugin.host.machine.vcpus.count,
                  let v = RegisterNames.read(String(cString: name), plugin.host.machine.vcpus[Int(vcpu)]) else { return -1 }
            value.pointee = v
            return 0
        }
        api.read_memory = { id, address, buffer, length in
            guard let plugin = PluginRegistry.plugin(id), let buffer, length <= 1 << 24,
                  let bytes = plugin.host.machine.memory.readBytes(address, length) else { return -1 }
            bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: length) }
            return 0
        }
        api.outs = { id, text in
            guard let plugin = PluginRegistry.plugin(id), let text else { return }
            plugin.write(String(cString: text))
        }
        return api
    }
}

/// Register names plugins can read: x0–x30, sp, pc, cpsr/nzcv, fpsr, fpcr and the EL1 registers firmware uses.
enum RegisterNames {
    static func read(_ name: String, _ cpu: VCPU) -> UInt64? {
        let s = cpu.state
        let lower = name.lowercased()
        if lower.hasPrefix("x"), let n = Int(lower.dropFirst()), (0...30).contains(n) { return s.x[n] }
        if lower.hasPrefix("w"), let n = Int(lower.dropFirst()), (0...30).contains(n) { return s.x[n] & 0xffff_ffff }
        switch lower {
        case "sp": return s.x[31]
        case "lr": return s.x[30]
        case "fp": return s.x[29]
        case "pc": return cpu.observedPC
        case "cpsr", "pstate": return UInt64(s.pstate & 0x0fff_ffff | cpu.observedNZCV)
        case "nzcv": return UInt64(cpu.observedNZCV)
        case "fpsr": return UInt64(s.fpsr)
        case "fpcr": return UInt64(s.fpcr)
        case "sp_el0": return s.bankedSP(el: 0)
        case "sp_el1": return s.bankedSP(el: 1)
        case "elr_el1": return s.sys.elr
        case "esr_el1": return s.sys.esr
        case "far_el1": return s.sys.far
        case "spsr_el1": return s.sys.spsr
        case "vbar_el1": return s.sys.vbar
        case "sctlr_el1": return s.sys.sctlr
        case "tpidr_el0": return s.sys.tpidrEL0
        case "tpidr_el1": return s.sys.tpidrEL1
        default: return nil
        }
    }
}
