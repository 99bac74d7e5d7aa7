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

/// Wraps a handler so that its level is ``LogLevelControl/level``.
struct DynamicLevelLogHandler<Wrapped: LogHandler>: LogHandler {
    var wrapped: Wrapped

    var logLevel: Logger.Level {
        get { LogLevelControl.level }
        // The level is process-wide: a Logger copy cannot change it on its own.
        set {}
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        wrapped.log(event: event)
    }
}
