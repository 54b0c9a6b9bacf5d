import Control
import Foundation
import Machine

/// What a machine is made of. Decoded in one place, ``MachineSpec/init(decoding:context:)``, for `emud run`'s
/// flags, each entry of the configuration file's `machines`, and `machine-create`: one grammar for sizes, one
/// for plugin arguments, one CPU limit (the machine's own).
struct MachineSpec: Equatable {
    var id: String
    var image: String
    var cpus = 1
    var memory: UInt64 = 128 << 20
    var gdb: String?
    var paused = false
    var console: ConsoleTarget = .ring
    var plugins: [PluginSpec] = []
    /// What the daemon does when the machine's worker process dies.
    var onCrash: CrashPolicy = .keep
    /// The worker's cgroup `memory.max` (guest RAM plus the emulator's own), under systemd with `Delegate=yes`.
    var memoryLimit: UInt64?
    /// The worker's cgroup `cpu.weight` (1-10000, systemd's default 100), under systemd with `Delegate=yes`.
    var cpuWeight: Int?
    /// virtio-blk disks, in the order they take virtio-mmio transports (see `VirtioMMIOBus`).
    var drives: [DriveSpec] = []
    /// Further devices, after the drives: "virtio-rng" (QEMU's `-device virtio-rng-device`).
    var devices: [String] = []
    static let deviceNames = ["virtio-rng"]
    /// A Linux boot (QEMU's -kernel, -initrd, -append, -dtb): the kernel, then `image` names it too.
    var kernel: String?
    var initrd: String?
    var append: String?
    var dtb: String?
    /// Firmware for the first flash bank (QEMU's -bios); then `image` names it.
    var bios: String?
    /// How guest code runs: "interp" (the interpreter) or "jit" (compiled to host code). Without an "engine"
    /// key, `ExecutionEngine.default`: the environment's EMUD_ENGINE, else the translator on x86-64 hosts.
    var engine: ExecutionEngine = .default

    enum CrashPolicy: String, CaseIterable {
        /// The machine stays listed as crashed, with the reason, until machine-destroy.
        case keep
        /// The machine is removed (MACHINE_DESTROYED follows MACHINE_CRASHED).
        case destroy
        /// The machine is created again from its spec (a machine that keeps crashing at start is kept instead).
        case restart
    }

    /// The keys a machine description may have (machine-create's parameters, a configuration entry's keys).
    static let keys = ["id", "board", "image", "cpus", "memory", "gdb", "paused", "console", "plugins", "on_crash",
                      "memory_limit", "cpu_weight", "drives", "devices", "kernel", "initrd", "append", "dtb", "bios", "engine"]
    static let memoryRange = (1 << 20)...(3 << 30)

    init(id: String, image: String) {
        self.id = id
        self.image = image
    }

    /// A field of a machine description that is wrong, and why (the message names the context and the key).
    struct Problem: Error, CustomStringConvertible {
        let key: String
        let description: String
    }

    /// Decodes a machine description (a JSON object). `context` names where it came from in messages
    /// ("machine-create", "machines[2]").
    init(decoding object: [String: JSONValue], context: String) throws(Problem) {
        let args = ControlArguments(command: context, values: object)
        func field<T>(_ key: String, _ read: () throws(ControlError) -> T) throws(Problem) -> T {
            do { return try read() } catch { throw Problem(key: key, description: error.message) }
        }
        for key in object.keys.sorted() where !Self.keys.contains(key) {
            throw Problem(key: key, description: "\(context): unknown key '\(key)' (known: \(Self.keys.joined(separator: ", ")))")
        }
        id = try field("id") { () throws(ControlError) in try args.string("id") }
        guard Self.validID(id) else {
            throw Problem(key: "id", description: "\(context): machine id '\(id)' must be 1-64 letters, digits, '-', '_' or '.'")
        }
        if let board = try field("board", { () throws(ControlError) in try args.optionalString("board") }), board != "virt" {
            throw Problem(key: "board", description: "\(context): board '\(board)' is not available; emud models QEMU's 'virt' board")
        }
        for key in ["kernel", "initrd", "append", "dtb", "bios"] {
            let value = try field(key) { () throws(ControlError) in try args.optionalString(key) }
            switch key {
            case "kernel": kernel = value
            case "initrd": initrd = value
            case "append": append = value
            case "dtb": dtb = value
            default: bios = value
            }
        }
        // A device tree also goes with firmware (QEMU's -bios with -dtb); the rest only with a kernel.
        if kernel == nil, let orphan = [("initrd", initrd), ("append", append), ("dtb", bios == nil ? dtb : nil)].first(where: { $0.1 != nil }) {
            throw Problem(key: orphan.0, description: "\(context): '\(orphan.0)' needs a 'kernel' to boot")
        }
        if kernel != nil && bios != nil {
            throw Problem(key: "bios", description: "\(context): give 'kernel' or 'bios', not both")
        }
        // The image is what the machine runs: an ELF (or the kernel or firmware when those are given).
        if let named = try field("image", { () throws(ControlError) in try args.optionalString("image") }) {
            guard kernel == nil && bios == nil else {
                throw Problem(key: "image", description: "\(context): give 'image', 'kernel' or 'bios', only one of them")
            }
            image = named
        } else if let booted = kernel ?? bios {
            image = booted
        } else {
            image = try field("image") { () throws(ControlError) in try args.string("image") }
        }
        cpus = try field("cpus") { () throws(ControlError) in try args.optionalInt("cpus", in: 1...MachineConfiguration.maxCPUs) } ?? 1
        memory = UInt64(try field("memory") { () throws(ControlError) in try args.optionalMemorySize("memory", in: Self.memoryRange) } ?? (128 << 20))
        gdb = try field("gdb") { () throws(ControlError) in try args.optionalString("gdb") }
        paused = try field("paused") { () throws(ControlError) in try args.optionalBool("paused") } ?? false
        if let value = object["console"], value != .null {
            guard let target = Self.console(value) else {
                throw Problem(key: "console", description: args.invalid("console", expected: "\"ring\", \"stdout\", {\"log\": PATH} or {\"socket\": PATH}", found: value).message)
            }
            console = target
        }
        if let text = try field("on_crash", { () throws(ControlError) in try args.optionalString("on_crash") }) {
            guard let policy = CrashPolicy(rawValue: text) else {
                throw Problem(key: "on_crash", description: "\(context): on_crash must be one of \(CrashPolicy.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
            }
            onCrash = policy
        }
        memoryLimit = try field("memory_limit") { () throws(ControlError) in
            try args.optionalMemorySize("memory_limit", in: (16 << 20)...(1 << 46)).map { UInt64($0) }
        }
        cpuWeight = try field("cpu_weight") { () throws(ControlError) in try args.optionalInt("cpu_weight", in: 1...10_000) }
        for entry in try field("plugins", { () throws(ControlError) in try args.optionalArray("plugins") }) ?? [] {
            guard let plugin = entry.objectValue, let path = plugin["path"]?.stringValue else {
                throw Problem(key: "plugins", description: "\(context): each entry of 'plugins' must be an object with a 'path'")
            }
            for key in plugin.keys where key != "path" && key != "args" {
                throw Problem(key: key, description: "\(context): a plugin entry has an unknown key '\(key)' (known: path, args)")
            }
            let arguments = try field("args") { () throws(ControlError) in try PluginSpec.arguments(plugin["args"], context: context) }
            plugins.append(PluginSpec(path: path, arguments: arguments))
        }
        if let text = try field("engine", { () throws(ControlError) in try args.optionalString("engine") }) {
            guard let chosen = ExecutionEngine(rawValue: text) else {
                throw Problem(key: "engine", description: "\(context): engine must be one of \(ExecutionEngine.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
            }
            engine = chosen
        }
        let driveEntries = try field("drives") { () throws(ControlError) in try args.optionalArray("drives") } ?? []
        for i in driveEntries.indices {
            drives.append(try DriveSpec(decoding: driveEntries[i], context: "\(context): drives[\(i)]"))
        }
        for entry in try field("devices", { () throws(ControlError) in try args.optionalArray("devices") }) ?? [] {
            // QEMU's name for the same device is accepted too.
            let name = entry.stringValue == "virtio-rng-device" ? "virtio-rng" : entry.stringValue
            guard let name, Self.deviceNames.contains(name) else {
                throw Problem(key: "devices", description: "\(context): 'devices' takes \(Self.deviceNames.joined(separator: ", ")), not \(entry.serialized())")
            }
            devices.append(name)
        }
    }

    /// The description a worker is given to create this machine: everything but the console, which the daemon
    /// keeps, and the crash policy, which the daemon applies.
    var workerDescription: [String: JSONValue] {
        var object: [String: JSONValue] = ["id": .string(id), "image": .string(image), "cpus": .int(cpus),
                                           "memory": .int(Int(truncatingIfNeeded: memory)), "paused": .bool(paused)]
        if let gdb { object["gdb"] = .string(gdb) }
        if kernel != nil || bios != nil { object["image"] = nil }
        for (key, value) in [("kernel", kernel), ("initrd", initrd), ("append", append), ("dtb", dtb), ("bios", bios)] {
            if let value { object[key] = .string(value) }
        }
        if !plugins.isEmpty {
            object["plugins"] = .array(plugins.map { .object(["path": .string($0.path), "args": .array($0.arguments.map { .string($0) })]) })
        }
        if !drives.isEmpty { object["drives"] = .array(drives.map(\.json)) }
        if !devices.isEmpty { object["devices"] = .array(devices.map { .string($0) }) }
        object["engine"] = .string(engine.rawValue)
        return object
    }

    /// The whole description, as machine-create takes it: what a worker keeps for a daemon that re-adopts it.
    var fullDescription: [String: JSONValue] {
        var object = workerDescription
        switch console {
        case .ring: object["console"] = .string("ring")
        case .stdout: object["console"] = .string("stdout")
        case .file(let path): object["console"] = .object(["log": .string(path)])
        case .unixSocket(let path): object["console"] = .object(["socket": .string(path)])
        }
        object["on_crash"] = .string(onCrash.rawValue)
        if let memoryLimit { object["memory_limit"] = .int(Int(truncatingIfNeeded: memoryLimit)) }
        if let cpuWeight { object["cpu_weight"] = .int(cpuWeight) }
        return object
    }

    /// Every host file the machine reads when it is made (a worker's sandbox lets it read these).
    var files: [String] { [image] + [initrd, dtb].compactMap { $0 } }

    /// The guest image to load: the ELF, or the kernel with its initrd and device tree placed as QEMU places them.
    func guestImage() throws -> GuestImage {
        if let bios { return try LinuxLoader.firmware(bios, dtb: dtb, cpus: cpus, ramSize: memory) }
        if let kernel {
            return try LinuxLoader.prepare(BootConfiguration(kernel: kernel, initrd: initrd, append: append, dtb: dtb),
                                           cpus: cpus, ramSize: memory)
        }
        return try ELFLoader.load(path: image)
    }

    static func validID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 64 && id.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
    }

    static func console(_ value: JSONValue) -> ConsoleTarget? {
        if value.stringValue == "ring" { return .ring }
        if value.stringValue == "stdout" { return .stdout }
        if let path = value["log"]?.stringValue { return .file(path) }
        if let path = value["socket"]?.stringValue { return .unixSocket(path) }
        return nil
    }

    /// A size as every size in emud is written (bytes, or "512M", "2G", "64KiB"...), or nil.
    static func size(_ value: JSONValue) -> UInt64? {
        switch value {
        case .string(let text): return parseMemorySize(text).flatMap { $0 > 0 ? UInt64($0) : nil }
        default: return value.intValue.flatMap { $0 > 0 ? UInt64($0) : nil }
        }
    }
}

/// A plugin to load, with its `key=value` arguments.
struct PluginSpec: Equatable {
    var path: String
    var arguments: [String]

    /// Plugin arguments as every caller may give them: an array of "key=value" strings, an object of keys and
    /// values, or one string "key=value,key=value" (absent or null: none).
    static func arguments(_ value: JSONValue?, context: String) throws(ControlError) -> [String] {
        guard let value, value != .null else { return [] }
        if let list = value.arrayValue { return list.map { $0.stringValue ?? $0.serialized() } }
        if let object = value.objectValue {
            return object.keys.sorted().map { "\($0)=\(object[$0]?.stringValue ?? object[$0]?.serialized() ?? "")" }
        }
        if let text = value.stringValue { return text.split(separator: ",").map(String.init) }
        throw ControlArguments(command: context, values: [:]).invalid("args", expected: "an array of \"key=value\" strings, an object, or \"key=value,...\"", found: value)
    }

    /// `emud run --plugin PATH[,key=value...]`.
    init(commandLine: String) throws(ControlError) {
        let path = commandLine.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        self.path = path
        let rest = commandLine.dropFirst(path.count + 1)
        arguments = try Self.arguments(rest.isEmpty ? nil : .string(String(rest)), context: "--plugin")
    }

    init(path: String, arguments: [String]) {
        self.path = path
        self.arguments = arguments
    }
}
