import Foundation
import Logging

/// What one worker may use, beside the guest RAM the daemon counts against its total before starting it.
///
/// Resource limits (`RLIMIT_AS`, `RLIMIT_NOFILE`) are set by the worker on itself before it loads anything;
/// cgroup limits (`memory.max`, `cpu.weight`) by the daemon, when systemd delegated it a cgroup (``WorkerCgroups``).
struct WorkerLimits {
    /// Address space a worker may map beyond its guest RAM: the runtime, thread stacks, malloc arenas, the
    /// translation cache and plugins. A worker of a 512 MiB, 4-vCPU machine with a plugin maps about 1.7 GiB.
    static let addressSpaceHeadroom: UInt64 = 3 << 30
    /// Descriptors a worker may hold: its sockets, gdb clients, semihosting files (at most 64), plugins' own.
    static let openFiles: UInt64 = 256

    static func addressSpace(forGuestMemory memory: UInt64) -> UInt64 {
        let (sum, overflow) = memory.addingReportingOverflow(addressSpaceHeadroom)
        return overflow ? .max : sum
    }

    /// Lowers this process's limits (soft and hard, so that a plugin cannot raise them again).
    static func apply(addressSpace: UInt64?, openFiles: UInt64?) throws {
        if let addressSpace { try set(RLIMIT_AS, addressSpace, "RLIMIT_AS") }
        if let openFiles { try set(RLIMIT_NOFILE, openFiles, "RLIMIT_NOFILE") }
    }

    private static func set(_ resource: __rlimit_resource, _ value: UInt64, _ name: String) throws {
        var current = rlimit()
        guard getrlimit(__rlimit_resource_t(resource.rawValue), &current) == 0 else {
            throw DaemonError.generic("getrlimit(\(name)): \(String(cString: strerror(errno)))")
        }
        // Never raise a limit the daemon was started under.
        let limit = rlim_t(min(value, UInt64(current.rlim_max)))
        var wanted = rlimit(rlim_cur: limit, rlim_max: limit)
        guard setrlimit(__rlimit_resource_t(resource.rawValue), &wanted) == 0 else {
            throw DaemonError.generic("setrlimit(\(name), \(limit)): \(String(cString: strerror(errno)))")
        }
    }
}

/// A cgroup (v2) per worker, when the daemon runs under systemd with `Delegate=yes`: the daemon's own cgroup is
/// then its to divide. The daemon moves itself into `<its cgroup>/daemon` (cgroup v2 allows processes only in
/// leaves), enables the memory and cpu controllers for the children, and puts each worker in
/// `<its cgroup>/machine-<id>` with the machine's `memory_limit` as `memory.max` and its `cpu_weight` as
/// `cpu.weight`, so a runaway guest is throttled or killed alone (the kernel's OOM killer acts within the cgroup).
///
/// On a host whose memory controller is still on cgroup v1 (older distributions, hybrid hierarchies), a writable
/// directory of that hierarchy serves the same way for `memory_limit` (`memory.limit_in_bytes`, and
/// `memory.memsw.limit_in_bytes` where swap is accounted); `cpu_weight` needs cgroup v2 and is refused there.
///
/// Without a delegated cgroup (not under systemd, no `Delegate=yes`) there is none, and a machine that
/// asks for `memory_limit` or `cpu_weight` is refused with a message saying so.
final class WorkerCgroups: @unchecked Sendable {
    let root: String
    let controllers: Set<String>
    /// A directory of the cgroup v1 memory hierarchy rather than a cgroup v2 one.
    let version1: Bool

    private init(root: String, controllers: Set<String>, version1: Bool = false) {
        self.root = root
        self.controllers = controllers
        self.version1 = version1
    }

    /// The delegated cgroup, set up for workers; nil (and why, in the log) when there is none.
    /// `EMUD_CGROUP_ROOT` names another cgroup directory, v2 or of the v1 memory hierarchy (tests, a daemon under
    /// another supervisor).
    static func setUp(logger: Logger) -> WorkerCgroups? {
        let environment = ProcessInfo.processInfo.environment
        let root: String
        if let override = environment["EMUD_CGROUP_ROOT"] {
            root = override
        } else {
            guard environment["INVOCATION_ID"] != nil else { return nil }  // not a systemd service
            let lines = ((try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? "").split(separator: "\n")
            if access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0, let line = lines.first(where: { $0.hasPrefix("0::") }) {
                root = "/sys/fs/cgroup" + line.dropFirst(3)
            } else if let line = lines.first(where: { $0.split(separator: ":").dropFirst().first == "memory" }) {
                root = "/sys/fs/cgroup/memory" + line.split(separator: ":", maxSplits: 2).dropFirst(2).joined()
            } else {
                logger.info("no cgroup hierarchy with the memory controller: machines get no memory_limit or cpu_weight")
                return nil
            }
        }
        if access(root + "/cgroup.controllers", F_OK) != 0 && access(root + "/memory.limit_in_bytes", F_OK) == 0 {
            // cgroup v1: processes may live in any cgroup, so the daemon stays where it is.
            guard access(root + "/cgroup.procs", W_OK) == 0, access(root, W_OK) == 0 else {
                logger.info("cgroup \(root) is not delegated to emud (set Delegate=yes in its unit): machines get no memory_limit or cpu_weight")
                return nil
            }
            logger.info("workers get cgroups under \(root) (cgroup v1 memory hierarchy: memory_limit only)")
            return WorkerCgroups(root: root, controllers: ["memory"], version1: true)
        }
        guard access(root + "/cgroup.procs", W_OK) == 0, access(root + "/cgroup.subtree_control", W_OK) == 0 else {
            logger.info("cgroup \(root) is not delegated to emud (set Delegate=yes in its unit): machines get no memory_limit or cpu_weight")
            return nil
        }
        let daemon = root + "/daemon"
        mkdir(daemon, 0o755)
        guard write(String(getpid()), to: daemon + "/cgroup.procs") else {
            logger.warning("cannot move the daemon into \(daemon): \(String(cString: strerror(errno))); machines get no memory_limit or cpu_weight")
            return nil
        }
        let available = Set(((try? String(contentsOfFile: root + "/cgroup.controllers", encoding: .utf8)) ?? "")
            .split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        var enabled: Set<String> = []
        for controller in ["memory", "cpu"] where available.contains(controller) {
            if write("+" + controller, to: root + "/cgroup.subtree_control") { enabled.insert(controller) }
        }
        logger.info("workers get cgroups under \(root) (controllers: \(enabled.sorted().joined(separator: ", ")))")
        return WorkerCgroups(root: root, controllers: enabled)
    }

    /// Puts a worker in a cgroup of its own with the given limits.
    func place(pid: pid_t, machine id: String, memoryMax: UInt64?, cpuWeight: Int?) throws {
        let group = path(id)
        guard mkdir(group, 0o755) == 0 || errno == EEXIST else {
            throw DaemonError.generic("cannot create cgroup \(group): \(String(cString: strerror(errno)))")
        }
        if let memoryMax, version1 {
            guard Self.write(String(memoryMax), to: group + "/memory.limit_in_bytes") else {
                throw DaemonError.generic("cannot set memory.limit_in_bytes of \(group): \(String(cString: strerror(errno)))")
            }
            // Where swap is accounted, memory and swap together stop at the same limit.
            _ = Self.write(String(memoryMax), to: group + "/memory.memsw.limit_in_bytes")
        } else if let memoryMax {
            guard controllers.contains("memory"), Self.write(String(memoryMax), to: group + "/memory.max") else {
                throw DaemonError.generic("cannot set memory.max of \(group); is the memory controller delegated?")
            }
            // Swapping would only slow the runaway guest down; it should be stopped at its limit.
            _ = Self.write("0", to: group + "/memory.swap.max")
        }
        if cpuWeight != nil && version1 {
            throw DaemonError.generic("cpu_weight needs cgroup v2's cpu controller; \(root) is in the cgroup v1 memory hierarchy")
        }
        if let cpuWeight {
            guard controllers.contains("cpu"), Self.write(String(cpuWeight), to: group + "/cpu.weight") else {
                throw DaemonError.generic("cannot set cpu.weight of \(group); is the cpu controller delegated?")
            }
        }
        guard Self.write(String(pid), to: group + "/cgroup.procs") else {
            throw DaemonError.generic("cannot move worker \(pid) into \(group): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes a machine's cgroup once its worker is gone.
    func remove(machine id: String) {
        rmdir(path(id))
    }

    func path(_ id: String) -> String { root + "/machine-" + id }

    /// How many times the kernel's OOM killer struck in a machine's cgroup: `oom_kill` of `memory.events` (v2) or
    /// of `memory.oom_control` (v1).
    func outOfMemoryKills(_ id: String) -> Int {
        let file = path(id) + (version1 ? "/memory.oom_control" : "/memory.events")
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("oom_kill ") }) else { return 0 }
        return Int(line.dropFirst("oom_kill ".count)) ?? 0
    }

    @discardableResult
    private static func write(_ text: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count
    }
}
