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

/// A Modbus RTU line the project did not write: `socat` joins two pseudo-terminals (the hub opens
/// one end), and a pymodbus 3.16.1 serial server on the other end plays slaves 1 and 2 (slave 3
/// answers every request with exception 4, pymodbus's answer for a device it does not have).
/// "Power off" kills the slave process; "power on" starts it again.
final class ModbusLine {
    static let script = #"""
    import struct, sys
    from pymodbus.server import StartSerialServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    def registers(fmt, value):
        raw = struct.pack(">" + fmt, value)
        return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]

    def device(id, holding, inputs):
        bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
        return SimDevice(id=id, simdata=(bits, bits, holding, inputs))

    energy = registers("I", 123456)
    line = [
        device(1,
               holding=[SimData(0, values=registers("H", 2315) + registers("h", -125), datatype=DataType.REGISTERS),
                        SimData(10, values=registers("f", 1013.25), datatype=DataType.REGISTERS)],
               inputs=[SimData(0, values=[energy[1], energy[0]], datatype=DataType.REGISTERS)]),  # low word first
        device(2,
               holding=[SimData(0, values=registers("H", 500), datatype=DataType.REGISTERS)],
               inputs=[SimData(0, values=[0], datatype=DataType.REGISTERS)]),
    ]
    print("serving", flush=True)
    # Parity none: a Linux pseudo-terminal refuses PARENB.
    StartSerialServer(line, port=sys.argv[1], baudrate=19200, parity="N")
    """#

    /// The end the hub opens.
    let masterEnd: String
    let slaveEnd: String
    private let socat = Process()
    private var slave: Process?
    private let scriptPath = "\(TestServers.logDirectory)/modbus-slave.py"
    private let python: String

    init(prefix: String) throws {
        python = TestServers.environment["TELEMETRY_PYTHON"] ?? "\(TestServers.logDirectory)/../../venv/bin/python"
        let check = Process()
        check.executableURL = URL(fileURLWithPath: python)
        check.arguments = ["-c", "import sys, pymodbus; sys.exit(pymodbus.__version__ != '3.16.1')"]
        guard (try? check.run()) != nil, ({ check.waitUntilExit(); return check.terminationStatus == 0 })() else {
            throw HarnessError("pymodbus 3.16.1 is not installed for \(python): run `make deps` (it creates .run/venv)")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/socat") else {
            throw HarnessError("socat is not installed: run `make deps`")
        }
        masterEnd = "\(TestServers.logDirectory)/../modbus-\(prefix)-hub"
        slaveEnd = "\(TestServers.logDirectory)/../modbus-\(prefix)-slave"
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        socat.executableURL = URL(fileURLWithPath: "/usr/bin/socat")
        socat.arguments = ["pty,rawer,link=\(slaveEnd)", "pty,rawer,link=\(masterEnd)"]
        // Not the test's own output: `swift test` waits for every holder of it to close it.
        socat.standardOutput = FileHandle.nullDevice
        socat.standardError = FileHandle.nullDevice
        try socat.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while !(FileManager.default.fileExists(atPath: masterEnd) && FileManager.default.fileExists(atPath: slaveEnd)) {
            guard ContinuousClock.now < deadline, socat.isRunning else { throw HarnessError("socat did not link the two ptys") }
            usleep(20_000)
        }
    }

    func powerOn() throws {
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [scriptPath, slaveEnd]
        process.standardOutput = output
        let logPath = "\(TestServers.logDirectory)/modbus-slave.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()
        let line = output.fileHandleForReading.readData(ofLength: 8)
        guard String(decoding: line, as: UTF8.self) == "serving\n" else {
            throw HarnessError("the pymodbus slave did not start; see \(logPath)")
        }
        slave = process
    }

    /// Like pulling the slave's power: it stops in the middle of whatever it was doing.
    func powerOff() {
        guard let slave, slave.isRunning else { return }
        kill(slave.processIdentifier, SIGKILL)
        slave.waitUntilExit()
        self.slave = nil
    }

    deinit {
        powerOff()
        // SIGKILL: a child of the test inherits its blocked signals, SIGTERM among them.
        if socat.isRunning {
            kill(socat.processIdentifier, SIGKILL)
            socat.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: masterEnd)
        try? FileManager.default.removeItem(atPath: slaveEnd)
    }
}

extension Daemon {
    /// The value of one metric line (exact name with labels) from `/metrics`, or nil.
    func metric(_ series: String) async throws -> Double? {
        let (_, body) = try await get("/metrics")
        return body.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// Runs `telemetryctl status` until its text contains every one of `parts` (true), or for at
    /// most `timeout` (false); returns the last text.
    func waitForStatus(_ parts: String..., timeout: Duration = .seconds(30)) async throws -> (Bool, String) {
        let deadline = ContinuousClock.now + timeout
        var text = ""
        repeat {
            let (status, output) = try await runTool("telemetryctl", ["status", "--socket", controlSocket])
            text = output
            if status == 0, parts.allSatisfy(text.contains) { return (true, text) }
            try await Task.sleep(for: .milliseconds(200))
        } while ContinuousClock.now < deadline
        return (false, text)
    }

    /// Polls `/metrics` until `series` satisfies `condition`; false on timeout.
    func waitForMetric(_ series: String, timeout: Duration = .seconds(30), _ condition: (Double) -> Bool) async throws -> Bool {
        try await eventually(timeout: timeout) { (try? await metric(series)).flatMap { $0 }.map(condition) ?? false }
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

    @Test("Modbus RTU against a pymodbus slave on a pty: scaled registers become rows, a slave that stops answering is reported and picked up again")
    func modbusRTU() async throws {
        let deployment = try Deployment()
        let line = try ModbusLine(prefix: deployment.prefix)
        try line.powerOn()
        let p = deployment.prefix
        var bus: [String: String] = [
            "SIMULATED_ENABLED": "false", "BUSES_NAMES": "mb0", "BUSES_MB0_KIND": "modbus_rtu", "BUSES_MB0_DEVICE": line.masterEnd,
            "BUSES_MB0_BAUD": "19200", "BUSES_MB0_PARITY": "none", "BUSES_MB0_POLL_INTERVAL_MS": "200",
            "BUSES_MB0_TIMEOUT_MS": "100", "BUSES_MB0_RETRIES": "1",
            "BUSES_MB0_POINTS": "temperature,delta,pressure,energy,humidity,ghost",
        ]
        // (slave, table, address, type, word order, scale, offset, device)
        let points: [(String, Int, String, Int, String, String, Double, Double, String)] = [
            ("temperature", 1, "holding", 0, "uint16", "big", 0.01, 0, "\(p)_plc1"),
            ("delta", 1, "holding", 1, "int16", "big", 0.1, 0, "\(p)_plc1"),
            ("pressure", 1, "holding", 10, "float32", "big", 1, 0, "\(p)_plc1"),
            ("energy", 1, "input", 0, "uint32", "little", 0.001, 0, "\(p)_plc1"),
            ("humidity", 2, "holding", 0, "uint16", "big", 0.1, -10, "\(p)_plc2"),
            ("ghost", 3, "holding", 0, "uint16", "big", 1, 0, "\(p)_plc3"),
        ]
        for (name, slave, table, address, type, order, scale, offset, device) in points {
            let key = "BUSES_MB0_POINT_\(name.uppercased())_"
            bus[key + "SLAVE"] = String(slave)
            bus[key + "TABLE"] = table
            bus[key + "ADDRESS"] = String(address)
            bus[key + "TYPE"] = type
            bus[key + "WORD_ORDER"] = order
            bus[key + "SCALE"] = String(scale)
            bus[key + "OFFSET"] = String(offset)
            bus[key + "DEVICE"] = device
        }
        let processor = try Daemon("telemetry-processor", name: "modbus-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "modbus-hub", environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: bus))
        let db = deployment.database
        let expected: [(String, Double)] = [("temperature", 23.15), ("delta", -12.5), ("pressure", 1013.25), ("energy", 123.456), ("humidity", 40)]
        func rows(_ metric: String) throws -> Int {
            try db.scalar("SELECT count(*) FROM samples s JOIN metrics m ON m.id = s.metric_id WHERE m.name = '\(metric)'")
        }
        #expect(try await eventually(timeout: .seconds(30)) { try expected.allSatisfy { try rows($0.0) >= 3 } },
                "no rows for every point:\n\(hub.tail)\n\(processor.tail)")

        // Slave 3 answers every request with an exception: reported, and slaves 1 and 2 go on.
        #expect(try await hub.waitForMetric("telemetry_hub_bus_errors_total{bus=\"mb0\",error=\"exception\"}") { $0 >= 1 }, "\(hub.tail)")
        var (shown, text) = try await hub.waitForStatus("slave 1 answering, slave 2 answering, slave 3 failing since")
        #expect(shown && text.contains("exception 4 (slave device failure)"), "\(text)")

        // Power the slaves off: reported as not answering; power them on: picked up again.
        line.powerOff()
        #expect(try await hub.waitForMetric("telemetry_hub_bus_errors_total{bus=\"mb0\",error=\"timeout\"}") { $0 >= 2 }, "\(hub.tail)")
        (shown, text) = try await hub.waitForStatus("slave 1 not answering since", "slave 2 not answering since")
        #expect(shown, "\(text)")
        #expect(hub.tail.contains("modbus slave not answering"), "\(hub.tail)")
        try await Task.sleep(for: .milliseconds(300))  // let every row read before the outage arrive
        let before = try rows("temperature")
        try line.powerOn()
        #expect(try await eventually(timeout: .seconds(30)) { try rows("temperature") >= before + 3 }, "not picked up again:\n\(hub.tail)")
        #expect(hub.tail.contains("modbus slave answering again"), "\(hub.tail)")
        (shown, text) = try await hub.waitForStatus("slave 1 answering, slave 2 answering")
        #expect(shown, "\(text)")

        #expect(await hub.stop() == 0, "\(hub.tail)")
        try await Task.sleep(for: .seconds(1))
        // Every row holds its register's scaled value (no answer taken for another request), once.
        for (metric, value) in expected {
            let wrong = try db.scalar("""
                SELECT count(*) FROM samples s JOIN metrics m ON m.id = s.metric_id
                WHERE m.name = '\(metric)' AND abs(s.value - (\(value))) > 1e-6
                """)
            #expect(wrong == 0, "\(metric): \(wrong) rows with a value other than \(value)")
        }
        #expect(try rows("ghost") == 0)
        #expect(try db.scalar("SELECT count(*) FROM (SELECT 1 FROM samples GROUP BY device_id, metric_id, ts HAVING count(*) > 1) d") == 0)
        #expect(try db.scalar("SELECT count(DISTINCT device_id) FROM samples") == 2)
        #expect(await processor.stop() == 0)
    }
}
