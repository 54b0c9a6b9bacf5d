import CSystemd
import Foundation

/// The daemon's side of the systemd service protocol: readiness, status, watchdog and socket activation.
/// Every call is a no-op when emud does not run under systemd (no NOTIFY_SOCKET / LISTEN_FDS).
enum Systemd {
    /// Sends `state` (e.g. "READY=1\nSTATUS=…") to the service manager. Safe from any thread.
    static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    /// The watchdog interval systemd expects pings within, if WATCHDOG_USEC is set for this process.
    static var watchdogInterval: TimeInterval? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return TimeInterval(usec) / 1_000_000
    }

    /// Sockets passed by systemd (LISTEN_FDS), by their FileDescriptorName.
    static func listenFileDescriptors() -> [String: Int32] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [:] }
        var result: [String: Int32] = [:]
        for i in 0..<Int(count) {
            let fd = SD_LISTEN_FDS_START + Int32(i)
            let name = names?[i].map { String(cString: $0) } ?? "unknown"
            result[name] = fd
            free(names?[i])
        }
        free(names)
        return result
    }

    /// Whether stderr is connected to the journal (systemd sets JOURNAL_STREAM to stderr's device:inode).
    static var stderrIsJournal: Bool {
        guard let stream = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode
    }

    /// Writes one structured entry to the journal. Field names must be upper case (systemd's rule).
    static func journal(message: String, priority: Int, fields: [String: String]) {
        var entries = ["MESSAGE=\(message)", "PRIORITY=\(priority)", "SYSLOG_IDENTIFIER=emud"]
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where key != "MESSAGE" && key != "PRIORITY" {
            entries.append("\(key)=\(value)")
        }
        let buffers = entries.map { strdup($0) }
        defer { buffers.forEach { free($0) } }
        var iov = buffers.map { iovec(iov_base: UnsafeMutableRawPointer($0), iov_len: $0.map { strlen($0) } ?? 0) }
        _ = sd_journal_sendv(&iov, Int32(iov.count))
    }
}
