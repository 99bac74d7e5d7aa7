import Control
import Processor

/// `telemetry-processor`: the shared daemon command line over ProcessorDaemon.
@main
struct TelemetryProcessor {
    static func main() async { await DaemonCommand<ProcessorDaemon>.main() }
}
