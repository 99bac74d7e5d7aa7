import Control
import Query

/// `telemetry-query`: the shared daemon command line over QueryDaemon.
@main
struct TelemetryQuery {
    static func main() async { await DaemonCommand<QueryDaemon>.main() }
}
