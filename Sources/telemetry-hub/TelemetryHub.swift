import Hub

@main
struct TelemetryHub {
    static func main() async { await HubDaemon.main() }
}
