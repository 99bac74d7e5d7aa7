import CSystemd

/// Sends state changes to the service manager through `sd_notify` (`NOTIFY_SOCKET`).
/// Without `NOTIFY_SOCKET` every call is a cheap no-op, so daemons call it unconditionally.
///
/// ```swift
/// let notifier = SystemdNotifier()
/// notifier.ready(status: "processing 8 shards")
/// ```
public struct SystemdNotifier: Sendable {
    /// A notifier; `sd_notify` reads `NOTIFY_SOCKET` at each call.
    public init() {}

    /// Sends raw `KEY=VALUE` lines.
    public func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    /// Sends `READY=1` (start-up is complete), with `STATUS=` when `status` is given.
    public func ready(status: String? = nil) {
        notify(status.map { "READY=1\nSTATUS=\($0)" } ?? "READY=1")
    }

    /// Sends `STATUS=text`, the line `systemctl status` shows.
    public func status(_ text: String) { notify("STATUS=\(text)") }

    /// Sends `STOPPING=1` (graceful shutdown began), with `STATUS=` when `status` is given.
    public func stopping(status: String? = nil) {
        notify(status.map { "STOPPING=1\nSTATUS=\($0)" } ?? "STOPPING=1")
    }
}
