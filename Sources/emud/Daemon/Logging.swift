import Foundation
import Logging

/// Where emud's log goes: `auto` means the journal when stderr is connected to it (JOURNAL_STREAM), stderr
/// otherwise.
enum LogTarget: String, CaseIterable {
    case auto, journal, stderr
}

/// A swift-log handler writing structured journal entries (metadata keys become journal fields, so operators
/// can filter with `journalctl PLUGIN_LICENSE=…` or `journalctl MACHINE_ID=…`) or plain lines on stderr.
struct EmudLogHandler: LogHandler {
    let label: String
    let toJournal: Bool
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        var fields: [String: String] = [:]
        for (k, v) in metadata.merging(explicit ?? [:], uniquingKeysWith: { $1 }) { fields[k] = "\(v)" }
        if toJournal {
            Systemd.journal(message: message.description, priority: Self.priority(level), fields: fields)
        } else {
            let extra = fields.isEmpty ? "" : " [" + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "]"
            FileHandle.standardError.write(Data("emud: \(level): \(message)\(extra)\n".utf8))
        }
    }

    /// syslog priorities as the journal's PRIORITY field wants them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    static func bootstrap(_ target: LogTarget, level: Logger.Level = .info) {
        let journal = target == .journal || (target == .auto && Systemd.stderrIsJournal)
        LoggingSystem.bootstrap { label in
            var handler = EmudLogHandler(label: label, toJournal: journal)
            handler.logLevel = level
            return handler
        }
    }
}
