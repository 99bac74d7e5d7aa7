public import Logging
public import ServiceLifecycle
public import Systemd
import TelemetryCore
import UnixSignals

/// Reloads the configuration on SIGHUP, the systemd way: `RELOADING=1` with `MONOTONIC_USEC=`,
/// then `READY=1` once done. A reload that fails (an invalid file) keeps the running
/// configuration, logs why and shows it in `STATUS=`.
public struct ReloadService: Service {
    let notifier: SystemdNotifier
    let logger: Logger
    let reload: @Sendable () async throws -> [String]
    let isReady: @Sendable () -> Bool

    /// `reload` reads and applies the configuration, returning the keys that changed. Before the
    /// service reported `READY=1` (`isReady` false) a reload still happens but tells systemd
    /// nothing: a `READY=1` then would claim dependencies that are not up yet.
    public init(notifier: SystemdNotifier, logger: Logger, isReady: @escaping @Sendable () -> Bool,
                reload: @escaping @Sendable () async throws -> [String]) {
        self.notifier = notifier
        self.logger = logger
        self.isReady = isReady
        self.reload = reload
    }

    /// Reloads on each SIGHUP until graceful shutdown begins; a failed reload does not end the service.
    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            let announce = isReady()
            if announce { notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(monotonicNanos() / 1000)") }
            logger.info("SIGHUP: reloading the configuration")
            do {
                let changed = try await reload()
                logger.info("configuration reloaded", metadata: [
                    "changed": "\(changed.isEmpty ? "nothing reloadable" : changed.joined(separator: ","))",
                    "log_level": "\(LogLevelControl.level)"])
                if announce { notifier.notify("READY=1\nSTATUS=configuration reloaded") }
            } catch {
                logger.error("configuration reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
                if announce { notifier.notify("READY=1\nSTATUS=reload failed, running configuration kept: \(error)") }
            }
        }
    }

}
