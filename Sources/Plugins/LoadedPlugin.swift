import CEmudPlugin
import Foundation
import Machine

/// One loaded plugin: its shared object, arguments, registered callbacks, scoreboards and output.
/// Registrations may arrive from any thread (install, translation callbacks); they take `lock`.
final class LoadedPlugin: @unchecked Sendable {
    struct Callbacks {
        var vcpuInit: [emud_vcpu_cb_t] = []
        var vcpuExit: [emud_vcpu_cb_t] = []
        var vcpuIdle: [emud_vcpu_cb_t] = []
        var vcpuResume: [emud_vcpu_cb_t] = []
        var tbTrans: [emud_tb_trans_cb_t] = []
        var exception: [emud_exception_cb_t] = []
        var flush: [emud_simple_cb_t] = []
        var atExit: [emud_simple_cb_t] = []
        var query: emud_query_cb_t? = nil
    }

    let id: UInt64
    let handle: UnsafeMutableRawPointer
    unowned let host: PluginHost
    let info: PluginInfo
    /// NUL-terminated argv for install, kept for the plugin's lifetime (plugins may keep pointers into it).
    let argv: UnsafeMutableBufferPointer<UnsafeMutablePointer<CChar>?>
    private let machineIDText: UnsafeMutablePointer<CChar>
    private let buildIDText: UnsafeMutablePointer<CChar>
    private let lock = NSLock()
    private var callbacks = Callbacks()
    private var output = ""
    private var scoreboardList: [Scoreboard] = []
    var scoreboards: [Scoreboard] {
        lock.lock(); defer { lock.unlock() }
        return scoreboardList
    }
    func addScoreboard(_ sb: Scoreboard) {
        lock.lock(); scoreboardList.append(sb); lock.unlock()
    }

    init(id: UInt64, handle: UnsafeMutableRawPointer, host: PluginHost, info: PluginInfo) {
        self.id = id
        self.handle = handle
        self.host = host
        self.info = PluginInfo(id: id, name: info.name, path: info.path, sha256: info.sha256, license: info.license,
                               gplCompatible: info.gplCompatible, arguments: info.arguments, machineID: info.machineID)
        argv = .allocate(capacity: info.arguments.count + 1)
        for (i, a) in info.arguments.enumerated() { argv[i] = strdup(a) }
        argv[info.arguments.count] = nil
        machineIDText = strdup(info.machineID)
        buildIDText = strdup(host.policy.buildID)
    }

    func withInfo<T>(_ body: (UnsafePointer<emud_plugin_info>) -> T) -> T {
        var info = emud_plugin_info(api_version: UInt32(EMUD_PLUGIN_API_VERSION), machine_id: machineIDText,
                                    num_vcpus: UInt32(host.machine.vcpus.count), build_id: buildIDText, api: PluginAPI.table)
        return body(&info)
    }

    /// Frees what emud allocated for the plugin (after it can no longer run).
    func release() {
        for i in 0..<argv.count { free(argv[i]) }
        argv.deallocate()
        free(machineIDText)
        free(buildIDText)
        lock.lock()
        let boards = scoreboardList
        scoreboardList.removeAll()
        lock.unlock()
        for sb in boards { sb.free() }
    }

    func snapshot() -> Callbacks {
        lock.lock()
        defer { lock.unlock() }
        return callbacks
    }

    func register(_ change: (inout Callbacks) -> Void) {
        lock.lock()
        change(&callbacks)
        lock.unlock()
    }

    func write(_ text: String) {
        lock.lock()
        output += text
        if output.utf8.count > 4 << 20 { output = String(output.suffix(2 << 20)) } // keep the newest 2 MiB
        lock.unlock()
        host.log("plugin \(info.name) (id \(id)): \(text.trimmingCharacters(in: .newlines))",
                 ["PLUGIN_PATH": info.path, "MACHINE_ID": info.machineID, "PLUGIN_OUTPUT": "1"])
    }

    var outputText: String {
        lock.lock()
        defer { lock.unlock() }
        return output
    }
}

/// A per-vCPU array of equally sized, zeroed elements, each on its own cache line.
final class Scoreboard {
    let pluginID: UInt64
    let elementSize: Int
    let stride: Int
    let base: UnsafeMutableRawPointer

    init(pluginID: UInt64, elementSize: Int, vcpus: Int) {
        self.pluginID = pluginID
        self.elementSize = elementSize
        stride = (elementSize + 63) & ~63
        base = UnsafeMutableRawPointer.allocate(byteCount: stride * max(vcpus, 1), alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: stride * max(vcpus, 1))
    }

    func free() { base.deallocate() }
}

/// Every loaded plugin by id, and the handles (blocks, instructions, scoreboards) that are valid right now,
/// so that a bad id or pointer passed back by a plugin is answered with an error instead of a crash.
enum PluginRegistry {
    private static let lock = NSLock()
    private static var plugins: [UInt64: LoadedPlugin] = [:]
    private static var next: UInt64 = 1
    private static var liveContexts: Set<UnsafeMutableRawPointer> = []
    private static var liveInstructions: [UnsafeMutableRawPointer: InstructionContext] = [:]
    private static var scoreboards: [UnsafeMutableRawPointer: Scoreboard] = [:]

    static func nextID() -> UInt64 {
        lock.lock(); defer { lock.unlock() }
        let id = next
        next += 1
        return id
    }

    static func add(_ plugin: LoadedPlugin) {
        lock.lock(); plugins[plugin.id] = plugin; lock.unlock()
    }

    static func remove(_ id: UInt64) {
        lock.lock()
        if let plugin = plugins.removeValue(forKey: id) {
            for sb in plugin.scoreboards { scoreboards.removeValue(forKey: Unmanaged.passUnretained(sb).toOpaque()) }
        }
        lock.unlock()
    }

    static func plugin(_ id: UInt64) -> LoadedPlugin? {
        lock.lock(); defer { lock.unlock() }
        return plugins[id]
    }

    static func enter(_ context: TranslationContext) {
        lock.lock(); liveContexts.insert(context.opaque); lock.unlock()
    }

    static func leave(_ context: TranslationContext) {
        lock.lock()
        liveContexts.remove(context.opaque)
        for insn in context.instructions.values { liveInstructions.removeValue(forKey: insn.opaque) }
        lock.unlock()
        context.releaseText()
    }

    static func context(_ pointer: UnsafeRawPointer?) -> TranslationContext? {
        guard let pointer else { return nil }
        let p = UnsafeMutableRawPointer(mutating: pointer)
        lock.lock(); defer { lock.unlock() }
        guard liveContexts.contains(p) else { return nil }
        return Unmanaged<TranslationContext>.fromOpaque(p).takeUnretainedValue()
    }

    static func addInstruction(_ insn: InstructionContext) {
        lock.lock(); liveInstructions[insn.opaque] = insn; lock.unlock()
    }

    static func instruction(_ pointer: UnsafeRawPointer?) -> InstructionContext? {
        guard let pointer else { return nil }
        lock.lock(); defer { lock.unlock() }
        return liveInstructions[UnsafeMutableRawPointer(mutating: pointer)]
    }

    static func addScoreboard(_ sb: Scoreboard) -> UnsafeMutableRawPointer {
        let p = Unmanaged.passUnretained(sb).toOpaque()
        lock.lock(); scoreboards[p] = sb; lock.unlock()
        return p
    }

    static func scoreboard(_ pointer: UnsafeMutableRawPointer?) -> Scoreboard? {
        guard let pointer else { return nil }
        lock.lock(); defer { lock.unlock() }
        return scoreboards[pointer]
    }
}
