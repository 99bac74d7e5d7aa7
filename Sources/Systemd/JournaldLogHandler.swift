import CSystemd
import Foundation
public import Logging

/// A swift-log handler writing to journald's native protocol through `sd_journal_sendv`, with
/// structured fields: `MESSAGE`, `PRIORITY` (syslog levels), `SYSLOG_IDENTIFIER`, `CODE_FILE`,
/// `CODE_LINE`, `CODE_FUNC`, `LOGGER`, and every metadata key as an upper-case field
/// (`device_id` → `DEVICE_ID`; characters other than A–Z, 0–9 and `_` become `_`, and a name never
/// starts with `_` or a digit). A write never throws and never blocks on a full journal.
///
/// ```swift
/// if JournaldLogHandler.stderrIsJournal() {
///     LoggingSystem.bootstrap { JournaldLogHandler(label: $0, identifier: "telemetry-hub") }
/// }
/// ```
public struct JournaldLogHandler: LogHandler {
    /// The handler's level (default info); swift-log drops records below it before ``log(event:)``.
    public var logLevel: Logger.Level = .info
    /// Metadata sent with every record as fields; a record's own metadata wins on the same key.
    public var metadata: Logger.Metadata = [:]
    /// The logger's label, sent as `LOGGER`.
    public let label: String
    /// Sent as `SYSLOG_IDENTIFIER` (the daemon's name: `journalctl -t` selects by it).
    public let identifier: String

    /// A handler for the logger `label`, its records tagged `SYSLOG_IDENTIFIER=identifier`.
    public init(label: String, identifier: String) {
        self.label = label
        self.identifier = identifier
    }

    /// One value of the handler's ``metadata``.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Where journald takes native records (`sd_journal_send` writes there).
    public static let socketPath = "/run/systemd/journal/socket"

    /// True when systemd connected stderr to the journal: `JOURNAL_STREAM` names stderr's
    /// device and inode (systemd.exec(5)).
    public static func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// The journal priority of a log level.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// The fields every record carries; a metadata key that maps to one of them is prefixed
    /// with `META_`, so it never adds a second `MESSAGE` or `PRIORITY` to the record.
    static let ownFields: Set<String> = ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "LOGGER"]

    /// A journal field name for a metadata key: upper case, `[A-Z0-9_]`, no leading underscore or
    /// digit, at most 64 bytes, and never one of the fields the handler writes itself.
    public static func fieldName(_ key: String) -> String {
        var name = String(key.uppercased().unicodeScalars.map { scalar -> Character in
            (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9") ? Character(scalar) : "_"
        })
        while name.hasPrefix("_") { name.removeFirst() }
        if name.isEmpty || name.first!.isNumber { name = "F" + name }
        if ownFields.contains(name) { name = "META_" + name }
        return String(name.prefix(64))
    }

    /// Sends the record to the journal in one `sd_journal_sendv` call; a failed send is ignored.
    public func log(event: LogEvent) {
        var fields: [String] = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=\(identifier)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
            "LOGGER=\(label)",
        ]
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for (key, value) in merged { fields.append("\(Self.fieldName(key))=\(value)") }
        Self.send(fields)
    }

    /// One contiguous buffer for every field, and the vectors pointing into it, inside one scope.
    private static func send(_ fields: [String]) {
        var bytes: [UInt8] = []
        var ranges: [Range<Int>] = []
        for field in fields {
            let start = bytes.count
            bytes.append(contentsOf: field.utf8)
            ranges.append(start..<bytes.count)
        }
        bytes.withUnsafeMutableBytes { raw in
            let vectors = ranges.map { iovec(iov_base: raw.baseAddress! + $0.lowerBound, iov_len: $0.count) }
            _ = vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
    }
}
