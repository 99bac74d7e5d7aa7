public import Logging
import Synchronization

/// The process-wide log level, changed at start-up from `log.level` and by a SIGHUP reload; every
/// handler made by ``DaemonRuntime/bootstrapLogging(identifier:)`` reads it on each record.
public enum LogLevelControl {
    private static let current = Atomic<UInt8>(index(of: .info))

    /// The level every handler logs at (default info); a change applies to the next record on any thread.
    public static var level: Logger.Level {
        get { Logger.Level.allCases[Int(current.load(ordering: .relaxed))] }
        set { current.store(index(of: newValue), ordering: .relaxed) }
    }

    private static func index(of level: Logger.Level) -> UInt8 {
        UInt8(Logger.Level.allCases.firstIndex(of: level) ?? 3)
    }
}

/// Where and how log records go: journald records, text lines on stderr, or JSON lines on stderr.
public enum LogFormat: String, Sendable, CaseIterable {
    /// journald when systemd connected stderr to the journal, else text (the default).
    case auto
    /// One `key=value` text line per record on stderr.
    case text
    /// One JSON object per line on stderr (``JSONLogHandler``).
    case json
    /// Structured journald records (`sd_journal_send`).
    case journal
}

/// The process-wide log output, from `LOG_FORMAT` at start-up and `log.format` once the
/// configuration is read (and at every reload); every handler made by
/// ``DaemonRuntime/bootstrapLogging(identifier:)`` reads it on each record.
public enum LogFormatControl {
    private static let current = Atomic<UInt8>(0)
    private static let stderrIsJournal = Atomic<Bool>(false)
    private static let journalSocket = Atomic<Bool>(true)

    /// The format asked for.
    public static var format: LogFormat {
        get { LogFormat.allCases[Int(current.load(ordering: .relaxed))] }
        set { current.store(UInt8(LogFormat.allCases.firstIndex(of: newValue) ?? 0), ordering: .relaxed) }
    }

    /// Whether stderr is the journal, which `auto` follows (set once at start-up).
    static var journalDetected: Bool {
        get { stderrIsJournal.load(ordering: .relaxed) }
        set { stderrIsJournal.store(newValue, ordering: .relaxed) }
    }

    /// Whether journald's socket exists (set once at start-up); without it `journal` writes text,
    /// so no record is dropped unseen.
    static var journalAvailable: Bool {
        get { journalSocket.load(ordering: .relaxed) }
        set { journalSocket.store(newValue, ordering: .relaxed) }
    }

    /// The output a record goes to now.
    static var effective: LogFormat {
        switch format {
        case .auto: journalDetected && journalAvailable ? .journal : .text
        case .journal: journalAvailable ? .journal : .text
        case let other: other
        }
    }
}

/// Each daemon's handler: at ``LogLevelControl/level``, to the output ``LogFormatControl`` says
/// (journald, text or JSON lines), both read per record so a reload changes them at once.
struct DaemonLogHandler<Journal: LogHandler>: LogHandler {
    var journal: Journal
    var text: StreamLogHandler
    var json: JSONLogHandler

    var logLevel: Logger.Level {
        get { LogLevelControl.level }
        // The level is process-wide: a Logger copy cannot change it on its own.
        set {}
    }

    var metadata: Logger.Metadata {
        get { text.metadata }
        set {
            journal.metadata = newValue
            text.metadata = newValue
            json.metadata = newValue
        }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { text.metadataProvider }
        set {
            journal.metadataProvider = newValue
            text.metadataProvider = newValue
            json.metadataProvider = newValue
        }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { text[metadataKey: key] }
        set {
            journal[metadataKey: key] = newValue
            text[metadataKey: key] = newValue
            json[metadataKey: key] = newValue
        }
    }

    func log(event: LogEvent) {
        switch LogFormatControl.effective {
        case .journal: journal.log(event: event)
        case .json: json.log(event: event)
        case .text, .auto: text.log(event: event)
        }
    }
}
