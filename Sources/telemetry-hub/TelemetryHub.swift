import Hub

/// `telemetry-hub`: the command line (HubCommand) over the daemon (HubDaemon).
@main
struct TelemetryHub {
    static func main() async { await HubCommand.main() }
}
