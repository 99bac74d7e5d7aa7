import Control
import Hub

/// `telemetry-hub`: the shared daemon command line over HubDaemon.
@main
struct TelemetryHub {
    static func main() async { await DaemonCommand<HubDaemon>.main() }
}
