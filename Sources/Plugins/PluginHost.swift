import CCapstone
import CEmudPlugin
import Foundation
import Machine

/// How strictly plugins are checked before they load.
public struct PluginPolicy: Sendable {
    /// Load plugins whose license is not GPL-compatible (the daemon is then tainted).
    public var allowIncompatibleLicenses = false
    /// Require `emud_plugin_build_id` to equal `buildID`.
    public var strictABI = false
    public var buildID = PluginBuildID.current
    /// Directories plugins may be loaded from (nil: any path, for `emud run`, whose user names the file). A plugin
    /// must resolve to a regular file inside one of them, owned by root or by emud's user, and neither it nor a
    /// directory between it and the trusted one may be writable by group or others. Checked before `dlopen`,
    /// which runs the library's constructors.
    public var trustedDirectories: [String]? = nil

    public init(allowIncompatibleLicenses: Bool = false, strictABI: Bool = false, trustedDirectories: [String]? = nil) {
        self.allowIncompatibleLicenses = allowIncompatibleLicenses
        self.strictABI = strictABI
        self.trustedDirectories = trustedDirectories
    }

    /// Where `path` may be loaded from under this policy: the resolved path to hand to `dlopen`, or why not.
    public func trustedLocation(of path: String) throws(PluginError) -> String {
        guard let directories = trustedDirectories else { return path }
        guard let resolved = realpath(path, nil) else { throw PluginError.notFound(path) }
        let file = String(cString: resolved)
        free(resolved)
        let roots = directories.compactMap { directory -> String? in
            guard let r = realpath(directory, nil) else { return nil }
            defer { free(r) }
            return String(cString: r)
        }
        guard let root = roots.first(where: { file.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
            throw PluginError.untrusted(path, "it is not inside a trusted plugin directory (\(directories.joined(separator: ", "))); "
                + "install it there or add its directory to plugin_dirs / --plugin-dir")
        }
        let me = geteuid()
        var current = file
        while true {
            var info = stat()
            guard lstat(current, &info) == 0 else { throw PluginError.untrusted(path, "cannot inspect \(current)") }
            if current == file && info.st_mode & S_IFMT != S_IFREG {
                throw PluginError.untrusted(path, "it is not a regular file")
            }
            if info.st_uid != 0 && info.st_uid != me {
                throw PluginError.untrusted(path, "\(current) belongs to user \(info.st_uid), not to root or emud's user")
            }
            if info.st_mode & 0o022 != 0 {
                throw PluginError.untrusted(path, "\(current) is writable by group or others")
            }
            if current == root || current.count <= root.count { break }
            current = (current as NSString).deletingLastPathComponent
        }
        return file
    }
}

/// Why a plugin was refused. Every case names the file and says what to do.
public enum PluginError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case notLoadable(String, String)
    case missingSymbol(String, String)
    case apiVersionMismatch(String, Int32, Int32)
    case missingLicense(String)
    case incompatibleLicense(String, String, String)
    case buildIDMismatch(String, String?, String)
    case installFailed(String, Int32)
    case unknownPlugin(UInt64)
    case untrusted(String, String)

    public var description: String {
        switch self {
        case .notFound(let p): return "plugin \(p): no such file"
        case .notLoadable(let p, let why): return "plugin \(p) is not a loadable shared object: \(why)"
        case .missingSymbol(let p, let s): return "plugin \(p) does not export \(s); see contrib/plugins/README.md for what a plugin must export"
        case .apiVersionMismatch(let p, let theirs, let ours):
            return "plugin \(p) was built for plugin API version \(theirs), but this emud implements version \(ours); rebuild it against this emud's emud-plugin.h"
        case .missingLicense(let p): return "plugin \(p) does not declare its license (export emud_plugin_license with an SPDX expression)"
        case .incompatibleLicense(let p, let license, let why):
            return "plugin \(p) declares license '\(license)', which is not GPL-compatible (\(why)); start emud with --allow-incompatible-plugins to load it anyway (the daemon is then tainted)"
        case .buildIDMismatch(let p, let theirs, let ours):
            return "plugin \(p) was built for emud build \(theirs ?? "(none: emud_plugin_build_id not exported)"), this is build \(ours); rebuild it with -DEMUD_PLUGIN_BUILD_ID from `emud plugin-build-id`, or drop --plugin-abi=strict"
        case .installFailed(let p, let code): return "plugin \(p) refused to install (emud_plugin_install returned \(code)); check its arguments"
        case .unknownPlugin(let id): return "no plugin with id \(id) is loaded in this machine; query-plugins lists them"
        case .untrusted(let p, let why): return "plugin \(p) is not loaded from a trusted place: \(why)"
        }
    }
}

/// What emud reports about a loaded plugin.
public struct PluginInfo: Sendable {
    public let id: UInt64
    public let name: String
    public let path: String
    public let sha256: String
    public let license: String
    public let gplCompatible: Bool
    public let arguments: [String]
    public let machineID: String
}

/// The plugins loaded into one machine, and the instrumentation they ask for.
///
/// Threading: `load`, `unload`, `query` and `unloadAll` are called from control threads (never a vCPU thread);
/// they change the machine only inside its exclusive sections. The `Instrumentation` methods are called by vCPU
/// threads. Plugins' own registrations take `lock`.
public final class PluginHost: Instrumentation, @unchecked Sendable {
    public let machine: Machine
    public var policy: PluginPolicy
    /// Receives one log line per event with structured fields (PLUGIN_PATH, PLUGIN_LICENSE, ...).
    public var log: (String, [String: String]) -> Void
    /// Set once a plugin with an incompatible license has been loaded.
    public private(set) var tainted = false

    let lock = NSLock()
    var plugins: [LoadedPlugin] = []
    /// The plugin whose `emud_plugin_install` is running (every vCPU parked meanwhile), and who waits for it.
    private let installState = NSCondition()
    private var installingPlugin: (id: UInt64, path: String)?

    public init(machine: Machine, policy: PluginPolicy = PluginPolicy(), log: @escaping (String, [String: String]) -> Void = { _, _ in }) {
        self.machine = machine
        self.policy = policy
        self.log = log
    }

    /// The plugins that are installed (one still in its install call is not).
    public var loaded: [PluginInfo] {
        let pending = installState.withLock { installingPlugin?.id }
        lock.lock()
        defer { lock.unlock() }
        return plugins.filter { $0.id != pending }.map { $0.info }
    }

    /// The path of the plugin whose install call is running now, if any.
    public var installing: String? { installState.withLock { installingPlugin?.path } }

    /// Waits until no install call is running; false if `timeout` seconds passed first.
    public func waitForInstall(timeout: TimeInterval) -> Bool {
        installState.lock()
        defer { installState.unlock() }
        // Foundation's timed wait traps on a far-future date (distantFuture), so "forever" is the untimed wait.
        guard timeout.isFinite else {
            while installingPlugin != nil { installState.wait() }
            return true
        }
        let deadline = Date(timeIntervalSinceNow: max(0, min(timeout, 86_400 * 365)))
        while installingPlugin != nil {
            if !installState.wait(until: deadline) { return installingPlugin == nil }
        }
        return true
    }

    // MARK: loading

    /// Loads a plugin into the (possibly running) machine. Throws `PluginError` and leaves the machine as it was.
    @discardableResult
    public func load(path: String, arguments: [String] = []) throws -> PluginInfo {
        guard FileManager.default.fileExists(atPath: path) else { throw PluginError.notFound(path) }
        let location = try policy.trustedLocation(of: path)
        guard let bytes = FileManager.default.contents(atPath: location) else { throw PluginError.notLoadable(path, "cannot read it") }
        guard bytes.count >= 4, bytes.prefix(4).elementsEqual([0x7f, 0x45, 0x4c, 0x46]) else {
            throw PluginError.notLoadable(path, "not an ELF file")
        }
        let sha = SHA256.hex([UInt8](bytes))
        guard let handle = dlopen(location, RTLD_NOW | RTLD_LOCAL) else {
            throw PluginError.notLoadable(path, dlerror().map { String(cString: $0) } ?? "dlopen failed")
        }
        var keepOpen = false
        defer { if !keepOpen { dlclose(handle) } }

        guard let versionSymbol = dlsym(handle, "emud_plugin_api_version") else {
            throw PluginError.missingSymbol(path, "emud_plugin_api_version")
        }
        let version = versionSymbol.load(as: Int32.self)
        guard version == EMUD_PLUGIN_API_VERSION else {
            throw PluginError.apiVersionMismatch(path, version, Int32(EMUD_PLUGIN_API_VERSION))
        }
        guard let licenseSymbol = dlsym(handle, "emud_plugin_license") else { throw PluginError.missingLicense(path) }
        let licenseText = String(cString: licenseSymbol.assumingMemoryBound(to: CChar.self))
        let license = PluginLicense(expression: licenseText)
        if !license.isGPLCompatible && !policy.allowIncompatibleLicenses {
            throw PluginError.incompatibleLicense(path, licenseText, license.reason ?? "unknown license")
        }
        if policy.strictABI {
            let theirs = dlsym(handle, "emud_plugin_build_id").map { String(cString: $0.assumingMemoryBound(to: CChar.self)) }
            guard theirs == policy.buildID else { throw PluginError.buildIDMismatch(path, theirs, policy.buildID) }
        }
        guard let installSymbol = dlsym(handle, "emud_plugin_install") else {
            throw PluginError.missingSymbol(path, "emud_plugin_install")
        }
        typealias Install = @convention(c) (UInt64, UnsafePointer<emud_plugin_info>?, Int32, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32
        let install = unsafeBitCast(installSymbol, to: Install.self)

        let plugin = LoadedPlugin(id: PluginRegistry.nextID(), handle: handle, host: self,
                                  info: PluginInfo(id: 0, name: (path as NSString).lastPathComponent, path: path, sha256: sha,
                                                   license: licenseText, gplCompatible: license.isGPLCompatible,
                                                   arguments: arguments, machineID: machine.id))
        let result: Int32 = machine.exclusive {
            PluginRegistry.add(plugin)
            lock.lock()
            plugins.append(plugin)
            lock.unlock()
            installState.withLock { installingPlugin = (plugin.id, path) }
            let code = plugin.withInfo { info in install(plugin.id, info, Int32(plugin.argv.count - 1), plugin.argv.baseAddress) }
            installState.withLock {
                installingPlugin = nil
                installState.broadcast()
            }
            if code != 0 {
                removeLocked(plugin)
                return code
            }
            for cpu in machine.vcpus {
                cpu.instrumentation = self
                cpu.flushTranslations()
            }
            for i in 0..<machine.vcpus.count { for cb in plugin.snapshot().vcpuInit { cb(plugin.id, UInt32(i)) } }
            return 0
        }
        if result != 0 {
            let said = plugin.outputText.trimmingCharacters(in: .whitespacesAndNewlines)
            if !said.isEmpty {
                log("plugin \(path) refused to install: \(said)", ["PLUGIN_PATH": path, "MACHINE_ID": machine.id])
            }
            plugin.release()
            throw PluginError.installFailed(path, result)
        }
        keepOpen = true
        if !license.isGPLCompatible { tainted = true }
        let info = plugin.info
        log("loaded plugin \(path) (id \(plugin.id), license \(licenseText), GPL-compatible: \(license.isGPLCompatible ? "yes" : "no"), sha256 \(sha)) into machine \(machine.id)" + (license.isGPLCompatible ? "" : "; the daemon is now tainted"),
            ["PLUGIN_PATH": path, "PLUGIN_SHA256": sha, "PLUGIN_LICENSE": licenseText,
             "PLUGIN_GPL_COMPATIBLE": license.isGPLCompatible ? "1" : "0", "MACHINE_ID": machine.id])
        return info
    }

    /// Takes a plugin out of the machine (inside an exclusive section): no new hooks, no translated code that
    /// calls it. Its id stays valid in the registry until `forget` so at-exit callbacks can still use the API.
    private func detachLocked(_ plugin: LoadedPlugin) {
        lock.lock()
        plugins.removeAll { $0 === plugin }
        let none = plugins.isEmpty
        lock.unlock()
        for cpu in machine.vcpus {
            if none { cpu.instrumentation = nil }
            cpu.flushTranslations()
        }
    }

    private func removeLocked(_ plugin: LoadedPlugin) {
        detachLocked(plugin)
        PluginRegistry.remove(plugin.id)
    }

    /// Unloads a plugin: no vCPU runs while its translated hooks are flushed and its at-exit callback runs;
    /// then the shared object is closed. Returns everything the plugin wrote with `emud_plugin_outs`.
    @discardableResult
    public func unload(id: UInt64) throws -> String {
        guard let plugin = plugin(id) else { throw PluginError.unknownPlugin(id) }
        let output: String = machine.exclusive {
            detachLocked(plugin)
            for cb in plugin.snapshot().atExit { cb(plugin.id) }
            PluginRegistry.remove(plugin.id)
            return plugin.outputText
        }
        plugin.release()
        dlclose(plugin.handle)
        log("unloaded plugin \(plugin.info.path) (id \(id)) from machine \(machine.id)",
            ["PLUGIN_PATH": plugin.info.path, "MACHINE_ID": machine.id])
        return output
    }

    /// Unloads every plugin (machine end, daemon stop), returning each one's output in load order.
    public func unloadAll() -> [(PluginInfo, String)] {
        var out: [(PluginInfo, String)] = []
        for info in loaded {
            if let text = try? unload(id: info.id) { out.append((info, text)) }
        }
        return out
    }

    /// The plugin's live JSON report (from its query callback, run while no vCPU runs) and its output so far.
    public func query(id: UInt64) throws -> (report: String?, output: String) {
        guard let plugin = plugin(id) else { throw PluginError.unknownPlugin(id) }
        return machine.exclusive {
            var report: String? = nil
            if let cb = plugin.snapshot().query, let text = cb(plugin.id) {
                report = String(cString: text)
                free(text)
            }
            return (report, plugin.outputText)
        }
    }

    func plugin(_ id: UInt64) -> LoadedPlugin? {
        lock.lock()
        defer { lock.unlock() }
        return plugins.first { $0.id == id }
    }

    // MARK: Instrumentation (vCPU threads)

    public func instrument(_ block: BlockDescription, cpu: Int) -> [InstrumentationHook] {
        lock.lock()
        let current = plugins
        lock.unlock()
        var hooks: [InstrumentationHook] = []
        for plugin in current {
            let callbacks = plugin.snapshot().tbTrans
            if callbacks.isEmpty { continue }
            let context = TranslationContext(block: block, plugin: plugin, image: image)
            PluginRegistry.enter(context)
            for cb in callbacks { cb(plugin.id, OpaquePointer(context.opaque)) }
            PluginRegistry.leave(context)
            hooks += context.hooks
        }
        return hooks
    }

    public var inlineAddsMayBeDeferred: Bool {
        lock.lock()
        let current = plugins
        lock.unlock()
        return current.allSatisfy { plugin in
            let s = plugin.snapshot()
            return s.exception.isEmpty && s.vcpuIdle.isEmpty && s.vcpuResume.isEmpty
        }
    }

    public func exceptionTaken(cpu: Int, kind: ExceptionKind, from: UInt64, to: UInt64, syndrome: UInt32) {
        lock.lock()
        let current = plugins
        lock.unlock()
        var e = emud_exception(from_pc: from, to_pc: to, kind: kind.rawValue, esr: syndrome)
        for plugin in current {
            for cb in plugin.snapshot().exception { cb(plugin.id, UInt32(cpu), &e) }
        }
    }

    public func translationsFlushed(cpu: Int) {
        guard cpu == 0 else { return }
        lock.lock()
        let current = plugins
        lock.unlock()
        for plugin in current { for cb in plugin.snapshot().flush { cb(plugin.id) } }
    }

    public func vcpuEvent(cpu: Int, _ event: VCPUEvent) {
        lock.lock()
        let current = plugins
        lock.unlock()
        for plugin in current {
            let s = plugin.snapshot()
            let list: [emud_vcpu_cb_t]
            switch event {
            case .initialized: list = s.vcpuInit
            case .exited: list = s.vcpuExit
            case .idle: list = s.vcpuIdle
            case .resumed: list = s.vcpuResume
            }
            for cb in list { cb(plugin.id, UInt32(cpu)) }
        }
    }

    /// The machine's image, for `insn_symbol` (its own sorted index answers look-ups; nothing here is shared
    /// mutable state, so vCPU threads translating at once need no lock).
    var image: GuestImage? { machine.image }
}

/// The emud build id plugins can be checked against in strict mode: the executable's size and modification
/// time, which change with every build.
public enum PluginBuildID {
    public static let current: String = {
        let path = ProcessInfo.processInfo.arguments.first.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
            ?? "/proc/self/exe"
        let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? path
        let attributes = try? FileManager.default.attributesOfItem(atPath: resolved)
        let size = (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
        let date = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "emud-\(EMUD_PLUGIN_API_VERSION)-\(String(size, radix: 16))-\(String(UInt64(date), radix: 16))"
    }()
}
