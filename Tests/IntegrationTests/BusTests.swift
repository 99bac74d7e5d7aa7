import Foundation
import Redis
import TelemetryCore
import Testing

/// A helper process the project did not write — a Python script — that plays the far end of a
/// serial line: it owns a pseudo-terminal, points a symlink at its slave side (the hub's
/// `device`), and writes or vanishes on command.
final class SerialPeer {
    static let script = #"""
    import os, sys, tty
    link = sys.argv[1]
    def open_pty():
        master, slave = os.openpty()
        tty.setraw(master)
        tmp = link + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, link)
        return master, slave
    master, slave = open_pty()
    print("ready", flush=True)
    for command in sys.stdin:
        verb, _, argument = command.rstrip("\n").partition(" ")
        if verb == "send":
            os.write(master, bytes.fromhex(argument))
        elif verb == "vanish":  # the USB adapter is unplugged
            os.unlink(link)
            os.close(slave)
            os.close(master)
        elif verb == "return":
            master, slave = open_pty()
        print("ok", flush=True)
    """#

    let process = Process()
    let input = Pipe()
    let output = Pipe()
    let link: String

    init(link: String) throws {
        self.link = link
        let scriptPath = "\(TestServers.logDirectory)/serial-peer.py"
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", scriptPath, link]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        try expectLine("ready")
    }

    /// Reads one line of the script's answers (short, bounded waits).
    private func expectLine(_ expected: String) throws {
        var line: [UInt8] = []
        while line.last != UInt8(ascii: "\n") {
            let chunk = output.fileHandleForReading.readData(ofLength: 1)
            guard !chunk.isEmpty else { throw HarnessError("the serial peer exited (is python3 installed?)") }
            line += chunk
        }
        let text = String(decoding: line.dropLast(), as: UTF8.self)
        guard text == expected else { throw HarnessError("serial peer said \(text), expected \(expected)") }
    }

    func command(_ text: String) throws {
        input.fileHandleForWriting.write(Data((text + "\n").utf8))
        try expectLine("ok")
    }

    func send(_ bytes: [UInt8]) throws { try command("send " + bytes.map { String(format: "%02x", $0) }.joined()) }
    func send(_ text: String) throws { try send(Array(text.utf8)) }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

extension Daemon {
    /// The value of one metric line (exact name with labels) from `/metrics`, or nil.
    func metric(_ series: String) async throws -> Double? {
        let (_, body) = try await get("/metrics")
        return body.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// Polls `/metrics` until `series` satisfies `condition`; false on timeout.
    func waitForMetric(_ series: String, timeout: Duration = .seconds(30), _ condition: (Double) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let value = try? await metric(series), condition(value) { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}

@Suite("Device buses (real Redis and PostgreSQL)", .serialized)
struct BusTests {
    @Test("UART line protocol over a pty: readings become rows, garbage and partial lines become dead letters, an unplugged adapter is reopened")
    func uartLines() async throws {
        let deployment = try Deployment()
        let link = "\(TestServers.logDirectory)/../uart-\(deployment.prefix)"
        let peer = try SerialPeer(link: link)
        let processor = try Daemon("telemetry-processor", name: "uart-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "uart-hub", environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: [
            "SIMULATED_ENABLED": "false", "BUSES_NAMES": "uart0", "BUSES_UART0_KIND": "uart_lines", "BUSES_UART0_DEVICE": link,
            "BUSES_UART0_BAUD": "115200", "BUSES_UART0_READ_TIMEOUT_MS": "100",
        ]))
        let connected = "telemetry_hub_bus_connected{bus=\"uart0\"}"
        #expect(try await hub.waitForMetric(connected) { $0 == 1 }, "the hub did not open the pty:\n\(hub.tail)")

        let p = deployment.prefix
        let ms = wallClockMicros() / 1000 - 5000
        try peer.send("\(p)_a temperature=21.5 humidity=40.1 pressure=1001.5 \(ms)\n")
        try peer.send("\(p)_b,site=lab temperature=22.5,humidity=41 \(ms + 1)\r\n")
        try peer.send("\(p)_a temperature=21.6 humidity=40.2 pressure=1001.6\n")  // no timestamp: the receive time
        try peer.send("@@@ garbage !!!\n")
        try peer.send("\(p)_c temperature=abc \(ms + 2)\n")
        try peer.send([0xFF, 0xFE, 0x20] + Array("x=1\n".utf8))
        try peer.send("\(p)_a temperature=21.7 humid")  // cut off…
        try peer.send("\n# a comment\n\n")               // …by line noise, then a comment and a blank line
        try peer.send("\(p)_b temperature=23")           // unfinished when the adapter vanishes
        let db = deployment.database
        #expect(try await eventually(timeout: .seconds(30)) { try db.scalar("SELECT count(*) FROM samples") >= 5 }, "\(hub.tail)\n\(processor.tail)")

        try peer.command("vanish")
        #expect(try await hub.waitForMetric(connected) { $0 == 0 }, "the hub did not notice the vanished device:\n\(hub.tail)")
        try await Task.sleep(for: .milliseconds(500))  // a few failed attempts to open it
        try peer.command("return")
        #expect(try await hub.waitForMetric("telemetry_hub_bus_reconnects_total{bus=\"uart0\"}") { $0 >= 1 }, "not reopened:\n\(hub.tail)")
        #expect(try await hub.waitForMetric(connected) { $0 == 1 })
        try peer.send("\(p)_b temperature=24.5 humidity=45 pressure=1003 \(ms + 3)\n")

        try await db.expectStoredOnce(11, "hub:\n\(hub.tail)\nprocessor:\n\(processor.tail)")
        #expect(try db.scalar("SELECT count(DISTINCT device_id) FROM samples") == 2)
        #expect(try db.scalar("""
            SELECT count(*) FROM samples s JOIN devices d ON d.id = s.device_id JOIN metrics m ON m.id = s.metric_id
            WHERE d.name = '\(p)_b' AND m.name = 'humidity' AND s.value = 41 AND s.ts = to_timestamp(\(ms + 1) / 1000.0)
            """) == 1)

        #expect(try await eventually(timeout: .seconds(10)) { try deployment.deadLetters().count == 5 })
        let letters = try deployment.deadLetters()
        let reasons = letters.map { String(decoding: $0.fields["reason"] ?? [], as: UTF8.self) }.sorted()
        #expect(reasons == ["invalid_field", "invalid_utf8", "malformed_line", "malformed_line", "malformed_line"])
        let payloads = Set(letters.map { $0.fields["payload"] ?? [] })
        #expect(payloads.contains(Array("@@@ garbage !!!".utf8)))
        #expect(payloads.contains([0xFF, 0xFE, 0x20] + Array("x=1".utf8)))
        #expect(payloads.contains(Array("\(p)_a temperature=21.7 humid".utf8)))
        #expect(payloads.contains(Array("\(p)_b temperature=23".utf8)))
        #expect(letters.allSatisfy { $0.fields["source"] == Array("bus:uart0".utf8) })
        #expect(try await hub.metric("telemetry_hub_dead_letters_total{reason=\"malformed_line\"}") == 3)

        let (status, text) = try await runTool("telemetryctl", ["status", "--socket", hub.controlSocket])
        #expect(status == 0 && text.contains("bus           uart0 (uart_lines): open"), "\(text)")
        #expect(await hub.stop() == 0, "\(hub.tail)")
        #expect(await processor.stop() == 0)
    }
}
