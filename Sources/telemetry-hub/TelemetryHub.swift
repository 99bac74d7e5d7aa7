import Control
import Hub

@main
struct TelemetryHub {
    static func main() async { await DaemonExit.run { () async throws(DaemonExit) in try await HubDaemon.main() } }
}
