import Foundation
import Testing

/// sd_notify as systemd would see it: the test binds the NOTIFY_SOCKET datagram socket itself.
@Suite("systemd notify and watchdog", .serialized)
struct SystemdNotifyTests {
    static let capture = #"""
        import os, socket, sys, time
        path, out = sys.argv[1], sys.argv[2]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(60)
        with open(out, "w") as f:
            f.write("%d\tLISTENING\n" % int(time.time() * 1000)); f.flush()
            try:
                while True:
                    data = sock.recv(65536).decode("utf-8", "replace")
                    for line in data.split("\n"):
                        if line:
                            f.write("%d\t%s\n" % (int(time.time() * 1000), line)); f.flush()
            except socket.timeout:
                pass
        """#

    struct Message { let millis: Int64; let text: String }

    static func messages(_ path: String) -> [Message] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2, let millis = Int64(parts[0]) else { return nil }
            return Message(millis: millis, text: String(parts[1]))
        }
    }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    @Test("READY=1 only once Redis and PostgreSQL are up; WATCHDOG=1 every half interval; pings stop when a stage stalls; STOPPING=1 on SIGTERM")
    func notifyAndWatchdog() async throws {
        let postgres = try PostgresServer()
        try postgres.stop()  // started late on purpose
        let deployment = try Deployment()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try Self.capture.write(toFile: "\(work)/capture.py", atomically: true, encoding: .utf8)
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        listener.arguments = ["\(work)/capture.py", "\(work)/notify.sock", "\(work)/messages.txt"]
        try listener.run()
        defer { if listener.isRunning { kill(listener.processIdentifier, SIGKILL) } }
        #expect(try await eventually(timeout: .seconds(10), every: .milliseconds(20)) { Self.messages("\(work)/messages.txt").contains { $0.text == "LISTENING" } })

        let processor = try Daemon("telemetry-processor", name: "notify-processor", environment: deployment.processorEnvironment(extra: [
            "POSTGRES_URL": postgres.conninfo, "NOTIFY_SOCKET": "\(work)/notify.sock", "WATCHDOG_USEC": "1000000",
            "TELEMETRY_FAULT_STALL_FILE": "\(work)/stall"]))
        try await Task.sleep(for: .seconds(3))
        #expect(!Self.messages("\(work)/messages.txt").contains { $0.text == "READY=1" }, "READY=1 before PostgreSQL was up")
        let postgresStarted = Self.nowMillis()
        try postgres.start()
        #expect(try await eventually(timeout: .seconds(30)) { Self.messages("\(work)/messages.txt").contains { $0.text == "READY=1" } },
                "\(processor.tail)")
        let ready = try #require(Self.messages("\(work)/messages.txt").first { $0.text == "READY=1" })
        #expect(ready.millis >= postgresStarted)

        // Cadence: WATCHDOG_USEC = 1 s, so a ping every 0.5 s.
        let windowStart = Self.nowMillis()
        try await Task.sleep(for: .seconds(3))
        let pings = Self.messages("\(work)/messages.txt").filter { $0.text == "WATCHDOG=1" && $0.millis >= windowStart }
        #expect((4...8).contains(pings.count), "\(pings.count) pings in 3 s")

        // A stalled stage stops the pings.
        FileManager.default.createFile(atPath: "\(work)/stall", contents: nil)
        try await Task.sleep(for: .milliseconds(1500))
        let quietFrom = Self.nowMillis()
        try await Task.sleep(for: .seconds(2))
        let late = Self.messages("\(work)/messages.txt").filter { $0.text == "WATCHDOG=1" && $0.millis >= quietFrom }
        #expect(late.isEmpty, "pings continued while the consumer was stalled")
        let log = (try? String(contentsOfFile: processor.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("stages stalled") && log.contains("consumer"))

        #expect(await processor.stop() == 0, "\(processor.tail)")
        #expect(Self.messages("\(work)/messages.txt").contains { $0.text == "STOPPING=1" })
        #expect(Self.messages("\(work)/messages.txt").contains { $0.text.hasPrefix("STATUS=") })
    }
}
