import Control
import Foundation

/// The daemon's configuration file (JSON): the daemon itself and the machines to create at start.
///
/// ```json
/// {
///   "control": "/run/emud/emud.sock",
///   "control_group": "emud",
///   "log_target": "auto",
///   "plugins": { "allow_incompatible": false, "abi": "version" },
///   "stop_timeout": 10,
///   "machines": [
///     { "id": "rig0", "image": "/srv/fw.elf", "cpus": 2, "memory": "256M", "gdb": "tcp::1234",
///       "paused": false, "console": "ring", "plugins": [ { "path": "/usr/local/lib/emud/libinsn.so", "args": ["inline=on"] } ] }
///   ]
/// }
/// ```
struct DaemonConfiguration: Equatable {
    var control: String?
    var controlGroup: String?
    var logTarget: LogTarget?
    var allowIncompatiblePlugins = false
    var strictPluginABI = false
    var stopTimeout: TimeInterval = 10
    var machines: [MachineSpec] = []
    /// Directories plugins may be loaded from (`plugin_dirs`); nil: `defaultPluginDirectories`.
    var pluginDirectories: [String]?
    /// Total guest RAM of all machines (`max_guest_memory`); nil: `defaultGuestMemoryLimit()`.
    var maxGuestMemory: UInt64?

    /// Where `make install` puts the sample plugins, and the same place relative to the running binary.
    static var defaultPluginDirectories: [String] {
        var list = ["/usr/local/lib/emud/plugins"]
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let beside = ((exe as NSString).deletingLastPathComponent as NSString).appendingPathComponent("../lib/emud/plugins")
            let standard = (beside as NSString).standardizingPath
            if !list.contains(standard) { list.append(standard) }
        }
        return list
    }

    /// Three quarters of what the daemon may use: the host's memory, or its cgroup's `memory.max` when lower.
    static func defaultGuestMemoryLimit() -> UInt64 {
        var available: UInt64 = 8 << 30
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
           let kib = line.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) }) {
            available = kib.multipliedReportingOverflow(by: 1024).overflow ? available : kib * 1024
        }
        if let cgroup = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
           let line = cgroup.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) {
            let path = "/sys/fs/cgroup" + line.dropFirst(3) + "/memory.max"
            if let limit = try? String(contentsOfFile: path, encoding: .utf8),
               let bytes = UInt64(limit.trimmingCharacters(in: .whitespacesAndNewlines)) {
                available = min(available, bytes)
            }
        }
        return available / 4 * 3
    }

    struct Problem: Error, CustomStringConvertible {
        let file: String
        let line: Int?
        let reason: String
        var description: String {
            line.map { "\(file):\($0): \(reason)" } ?? "\(file): \(reason)"
        }
    }

    static func load(path: String) throws -> DaemonConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem(file: path, line: nil, reason: "cannot read the file")
        }
        let bytes = [UInt8](data)
        let root: JSONValue
        do {
            root = try JSONValue(parsing: bytes)
        } catch {
            let line = 1 + bytes.prefix(max(0, min(error.offset, bytes.count))).filter { $0 == 0x0a }.count
            throw Problem(file: path, line: line, reason: "not valid JSON: \(error.reason)")
        }
        return try parse(root, file: path, text: bytes)
    }

    /// The line where `"key"` first appears after `after` bytes, to point at the offending entry.
    private static func line(of key: String, in text: [UInt8], occurrence: Int = 0) -> Int? {
        let needle = Array("\"\(key)\"".utf8)
        var found = 0
        var i = 0
        while i + needle.count <= text.count {
            if text[i] == needle[0] && Array(text[i..<i + needle.count]) == needle {
                if found == occurrence { return 1 + text[..<i].filter { $0 == 0x0a }.count }
                found += 1
            }
            i += 1
        }
        return nil
    }

    static func parse(_ root: JSONValue, file: String, text: [UInt8] = []) throws -> DaemonConfiguration {
        func problem(_ key: String, _ reason: String, occurrence: Int = 0) -> Problem {
            Problem(file: file, line: line(of: key, in: text, occurrence: occurrence), reason: reason)
        }
        guard let object = root.objectValue else { throw Problem(file: file, line: 1, reason: "the top level must be a JSON object") }
        let known: Set<String> = ["control", "control_group", "log_target", "plugins", "stop_timeout", "machines",
                                  "plugin_dirs", "max_guest_memory"]
        for key in object.keys where !known.contains(key) {
            throw problem(key, "unknown setting '\(key)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        var config = DaemonConfiguration()
        if let v = object["control"] {
            guard let s = v.stringValue, !s.isEmpty else { throw problem("control", "'control' must be a socket path") }
            config.control = s
        }
        if let v = object["control_group"] {
            guard let s = v.stringValue else { throw problem("control_group", "'control_group' must be a group name") }
            config.controlGroup = s
        }
        if let v = object["log_target"] {
            guard let s = v.stringValue, let t = LogTarget(rawValue: s) else {
                throw problem("log_target", "'log_target' must be one of auto, journal, stderr")
            }
            config.logTarget = t
        }
        if let v = object["plugin_dirs"] {
            guard let list = v.arrayValue, let dirs = Optional(list.compactMap { $0.stringValue }), dirs.count == list.count,
                  !dirs.contains(where: { !$0.hasPrefix("/") }) else {
                throw problem("plugin_dirs", "'plugin_dirs' must be an array of absolute directory paths")
            }
            config.pluginDirectories = dirs
        }
        if let v = object["max_guest_memory"] {
            guard let bytes = MachineSpec.size(v) else { throw problem("max_guest_memory", "'max_guest_memory' must be bytes or a size such as \"8G\"") }
            config.maxGuestMemory = bytes
        }
        if let v = object["stop_timeout"] {
            guard let d = v.doubleValue, d > 0, d <= 3600 else { throw problem("stop_timeout", "'stop_timeout' must be a number of seconds between 0 and 3600") }
            config.stopTimeout = d
        }
        if let v = object["plugins"] {
            guard let p = v.objectValue else { throw problem("plugins", "'plugins' must be an object with allow_incompatible and abi") }
            if let a = p["allow_incompatible"] {
                guard let b = a.boolValue else { throw problem("allow_incompatible", "'allow_incompatible' must be true or false") }
                config.allowIncompatiblePlugins = b
            }
            if let a = p["abi"] {
                guard let s = a.stringValue, s == "version" || s == "strict" else { throw problem("abi", "'abi' must be \"version\" or \"strict\"") }
                config.strictPluginABI = s == "strict"
            }
        }
        if let v = object["machines"] {
            guard let list = v.arrayValue else { throw problem("machines", "'machines' must be an array") }
            var ids: Set<String> = []
            for (index, entry) in list.enumerated() {
                guard let m = entry.objectValue else { throw problem("machines", "machines[\(index)] must be an object") }
                let spec: MachineSpec
                do { spec = try MachineSpec(decoding: m, context: "machines[\(index)]") } catch {
                    // Point at this machine's use of the key: count the machines before it that use it too.
                    let before = list[..<index].filter { $0.objectValue?[error.key] != nil }.count
                    throw problem(error.key, error.description, occurrence: before)
                }
                guard !ids.contains(spec.id) else { throw problem("id", "machine id '\(spec.id)' is used twice", occurrence: index) }
                ids.insert(spec.id)
                config.machines.append(spec)
            }
        }
        return config
    }
}
