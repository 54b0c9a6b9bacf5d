import CSandbox
import Foundation

/// A worker's sandbox: no new privileges, Landlock (where the kernel has it) restricting the file system to reading
/// the system's libraries, the machine's image and the trusted plugin directories, and reading and writing its
/// drives (read-only drives: reading), and a seccomp filter refusing the system calls a running machine never needs
/// (execve, ptrace, mount, modules, bpf, namespaces, keyrings...).
///
/// What a compromised worker can still reach: its own machine and drives; reading (not writing) /usr, /lib*, /opt,
/// /proc, /sys and /dev, and the plugin directories; creating and removing unix sockets (gdb endpoints, its own socket);
/// the network (gdb's TCP endpoints); the descriptors it holds (its sockets to the daemon, gdb clients, stderr or
/// the journal). It runs as the daemon's user, so signals to the daemon's other processes are not refused.
enum WorkerSandbox {
    static let sandboxedFlag = "--sandboxed"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Read-and-execute paths every worker needs, if they exist.
    static let systemPaths = ["/usr", "/lib", "/lib64", "/lib32", "/opt", "/proc", "/sys", "/dev", "/etc/ld.so.cache",
                              "/etc/localtime"]

    /// Sets no_new_privs and enforces Landlock on this thread, then executes this program again with
    /// ``sandboxedFlag``: the new image's threads all descend from the restricted one (Landlock binds the calling
    /// thread and what it starts, not threads that exist). Returns only if the kernel has no Landlock (the reason).
    static func confineFileSystemAndRestart(readable: [String], writable: [String] = [], extraArguments: [String] = []) throws -> String {
        let noNewPrivileges = emud_sandbox_no_new_privs()
        guard noNewPrivileges == 0 else { throw Failure(description: "no_new_privs: \(String(cString: strerror(-noNewPrivileges)))") }
        let abi = emud_landlock_abi()
        guard abi > 0 else { return "the kernel offers no Landlock (\(String(cString: strerror(-abi))))" }
        let ruleset = emud_landlock_create(abi)
        guard ruleset >= 0 else { throw Failure(description: "landlock_create_ruleset: \(String(cString: strerror(-ruleset)))") }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let rules = (systemPaths + readable + [executable]).map { ($0, emud_landlock_read_execute()) }
            + writable.filter(isDiskFile).map { ($0, emud_landlock_read_write_file()) }
        for (path, access) in rules where !path.isEmpty {
            let result = emud_landlock_allow(ruleset, path, access)
            if result != 0 && result != -ENOENT {
                close(ruleset)
                throw Failure(description: "Landlock rule for \(path): \(String(cString: strerror(-result)))")
            }
        }
        let enforced = emud_landlock_enforce(ruleset)
        guard enforced == 0 else { throw Failure(description: "landlock_restrict_self: \(String(cString: strerror(-enforced)))") }
        let arguments = CommandLine.arguments + extraArguments + [sandboxedFlag]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", argv)
        throw Failure(description: "re-executing the worker in its sandbox: \(String(cString: strerror(errno)))")
    }

    /// Whether `path` is a regular file or block device: a drive that names a directory must not open the
    /// directory's whole tree to writing (the machine then fails to open it as a disk).
    static func isDiskFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return info.st_mode & S_IFMT == S_IFREG || info.st_mode & S_IFMT == S_IFBLK
    }

    /// Installs the seccomp filter on every thread of the process.
    static func denyDangerousSystemCalls() throws {
        let result = emud_seccomp_deny_dangerous()
        guard result == 0 else { throw Failure(description: "seccomp: \(String(cString: strerror(-result)))") }
    }
}
