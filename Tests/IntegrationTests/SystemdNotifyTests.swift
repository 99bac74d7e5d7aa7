import Foundation
import Testing

/// sd_notify as systemd would see it: the test binds the NOTIFY_SOCKET datagram socket itself.
@Suite("systemd notify and watchdog", .serialized)
struct SystemdNotifyTests {
    @Test("READY=1 only once Redis and PostgreSQL are up; WATCHDOG=1 every half interval; pings stop when a stage stalls; STOPPING=1 on SIGTERM")
    func notifyAndWatchdog() async throws {
        let postgres = try PostgresServer()
        try postgres.stop()  // started late on purpose
        let deployment = try Deployment()
        let capture = try await NotifyCapture()
        let work = capture.directory

        let processor = try Daemon("telemetry-processor", name: "notify-processor", environment: deployment.processorEnvironment(extra: [
            "POSTGRES_URL": postgres.conninfo, "NOTIFY_SOCKET": "\(work)/notify.sock", "WATCHDOG_USEC": "1000000",
            "TELEMETRY_FAULT_STALL_FILE": "\(work)/stall"]))
        try await Task.sleep(for: .seconds(3))
        #expect(!capture.messages.contains { $0.text == "READY=1" }, "READY=1 before PostgreSQL was up")
        let postgresStarted = NotifyCapture.nowMillis()
        try postgres.start()
        #expect(try await eventually(timeout: .seconds(30)) { capture.messages.contains { $0.text == "READY=1" } },
                "\(processor.tail)")
        let ready = try #require(capture.messages.first { $0.text == "READY=1" })
        #expect(ready.millis >= postgresStarted)

        // Cadence: WATCHDOG_USEC = 1 s, so a ping every 0.5 s.
        let windowStart = NotifyCapture.nowMillis()
        try await Task.sleep(for: .seconds(3))
        let pings = capture.messages.filter { $0.text == "WATCHDOG=1" && $0.millis >= windowStart }
        #expect((4...8).contains(pings.count), "\(pings.count) pings in 3 s")

        // A stalled stage stops the pings.
        _ = FileManager.default.createFile(atPath: "\(work)/stall", contents: nil)
        try await Task.sleep(for: .milliseconds(1500))
        let quietFrom = NotifyCapture.nowMillis()
        try await Task.sleep(for: .seconds(2))
        let late = capture.messages.filter { $0.text == "WATCHDOG=1" && $0.millis >= quietFrom }
        #expect(late.isEmpty, "pings continued while the consumer was stalled")
        let log = (try? String(contentsOfFile: processor.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("stages stalled") && log.contains("consumer"))

        #expect(await processor.stop() == 0, "\(processor.tail)")
        #expect(capture.messages.contains { $0.text == "STOPPING=1" })
        #expect(capture.messages.contains { $0.text.hasPrefix("STATUS=") })
    }
}
