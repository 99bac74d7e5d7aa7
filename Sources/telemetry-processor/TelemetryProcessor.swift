import Processor

/// `telemetry-processor`: the command line (ProcessorCommand) over the daemon (ProcessorDaemon).
@main
struct TelemetryProcessor {
    static func main() async { await ProcessorCommand.main() }
}
