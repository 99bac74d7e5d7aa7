import Control
import Processor

@main
struct TelemetryProcessor {
    static func main() async { await DaemonExit.run { () async throws(DaemonExit) in try await ProcessorDaemon.main() } }
}
