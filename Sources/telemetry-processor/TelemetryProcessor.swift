import Processor

@main
struct TelemetryProcessor {
    static func main() async { await ProcessorDaemon.main() }
}
