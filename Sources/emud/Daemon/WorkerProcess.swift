import Foundation

/// A worker process the daemon started (``WorkerCommand``), and the daemon's ends of its two sockets.
///
/// The daemon reaps it: ``reap(grace:)`` waits for it to exit after its connection closed, killing it if it
/// lingers. Thread-safe.
final class WorkerProcess: @unchecked Sendable {
    let pid: pid_t
    /// Started by an earlier daemon and re-adopted: not this process's child, so it cannot be waited for; its
    /// end is seen by polling, and how it ended is unknown.
    let adopted: Bool
    private let lock = NSLock()
    private var exitStatus: Int32?

    private init(pid: pid_t, adopted: Bool = false) {
        self.pid = pid
        self.adopted = adopted
    }

    /// A worker an earlier daemon started (``Supervisor/adoptWorkers()``).
    static func adopting(pid: pid_t) -> WorkerProcess { WorkerProcess(pid: pid, adopted: true) }

    /// The wait status reported for an adopted worker that has gone: nobody can know how it ended.
    static let unknownStatus: Int32 = -1

    /// How a worker ended, from its wait status.
    struct Ending: Sendable, CustomStringConvertible {
        var signal: Int32?
        var exitCode: Int32?
        var coreDumped: Bool

        /// False for an adopted worker: not the daemon's child, its status cannot be known.
        var known = true

        init(status: Int32) {
            if status == WorkerProcess.unknownStatus {
                known = false
                signal = nil
                exitCode = nil
                coreDumped = false
                return
            }
            let low = status & 0x7f
            if low == 0 {
                exitCode = (status >> 8) & 0xff
                signal = nil
            } else {
                signal = low
                exitCode = nil
            }
            coreDumped = status & 0x80 != 0
        }

        var signalName: String? {
            guard let signal else { return nil }
            let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGABRT: "SIGABRT", SIGILL: "SIGILL",
                                          SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGSYS: "SIGSYS",
                                          SIGXCPU: "SIGXCPU", SIGTRAP: "SIGTRAP", SIGINT: "SIGINT", SIGHUP: "SIGHUP"]
            return names[signal] ?? "signal \(signal)"
        }

        var description: String {
            if !known { return "ended (re-adopted from an earlier daemon, so not its child: how it ended is unknown)" }
            if let signal {
                let text = strsignal(signal).map { String(cString: $0) } ?? "signal \(signal)"
                return "killed by \(signalName ?? "signal \(signal)") (\(text))" + (coreDumped ? ", core dumped" : "")
            }
            return "exited with status \(exitCode ?? -1)"
        }

        /// Where to look for a core file, or why there is none.
        var coreNote: String {
            guard signal != nil else { return "no core dump: the worker exited" }
            let pattern = (try? String(contentsOfFile: "/proc/sys/kernel/core_pattern", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            if coreDumped { return "core dumped (kernel.core_pattern: \(pattern))" }
            return "no core dump (the signal makes none, or RLIMIT_CORE is 0; kernel.core_pattern: \(pattern))"
        }
    }

    /// Starts `emud worker` for one machine. Descriptors 3 and 4 in the worker are its command and query sockets.
    /// Every other descriptor of the daemon is close-on-exec (a socket-activated gdb socket is sent over the
    /// command socket instead, see `Supervisor.createMachine`).
    /// - Returns: the process and the daemon's ends of the command and query sockets (close-on-exec).
    static func spawn(arguments: [String]) throws -> (WorkerProcess, commands: Int32, queries: Int32) {
        var commandPair: [Int32] = [-1, -1]
        var queryPair: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &commandPair) == 0 else {
            throw DaemonError.generic("cannot create a socket pair for a worker: \(String(cString: strerror(errno)))")
        }
        guard socketpair(AF_UNIX, type, 0, &queryPair) == 0 else {
            let why = String(cString: strerror(errno))
            commandPair.forEach { close($0) }
            throw DaemonError.generic("cannot create a socket pair for a worker: \(why)")
        }
        defer {
            close(commandPair[1])
            close(queryPair[1])
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, commandPair[1], WorkerCommand.commandDescriptor)
        posix_spawn_file_actions_adddup2(&actions, queryPair[1], WorkerCommand.queryDescriptor)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The daemon ignores or blocks signals for its own handling; a worker starts with the defaults, in a
        // process group of its own so that a terminal's ^C reaches the daemon, which stops its workers in order.
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
        let executable = Self.executablePath
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else {
            [commandPair[0], queryPair[0]].forEach { close($0) }
            throw DaemonError.generic("cannot start a worker process (\(executable)): \(String(cString: strerror(result)))")
        }
        return (WorkerProcess(pid: pid), commandPair[0], queryPair[0])
    }

    /// This emud binary: a worker runs the same build as its daemon, even after a package upgrade replaced the
    /// file (the kernel still has the running one).
    static let executablePath = "/proc/self/exe"

    /// Sends SIGKILL unless the worker has been reaped (its pid could belong to another process by then).
    func kill() {
        lock.withLock {
            if exitStatus == nil { _ = Glibc.kill(pid, SIGKILL) }
        }
    }

    /// Waits for the worker to exit, up to `grace` seconds, then kills it and waits for that. Returns how it
    /// ended. Safe to call more than once and from several tasks; only one of them reaps.
    func reap(grace: TimeInterval) async -> Ending {
        let deadline = Date().addingTimeInterval(grace)
        var killed = false
        while true {
            if let status = poll() { return Ending(status: status) }
            if !killed && Date() >= deadline {
                kill()
                killed = true
            }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
    }

    /// Whether `pid` exists and is not a zombie (an adopted worker's new parent may be slow to reap it).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard Glibc.kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    private func poll() -> Int32? {
        lock.withLock {
            if let exitStatus { return exitStatus }
            if adopted {
                guard !Self.isRunning(pid) else { return nil }
                exitStatus = Self.unknownStatus
                return exitStatus
            }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                exitStatus = status
                return status
            }
            if result < 0 && errno == ECHILD {
                // Reaped elsewhere (should not happen); report it as gone.
                exitStatus = 0
                return 0
            }
            return nil
        }
    }
}
