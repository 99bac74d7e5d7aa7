import Foundation
import Buses
import TelemetryCore

/// A Modbus RTU master on a UART: every `poll_interval_ms` it reads the configured registers of
/// each slave (consecutive registers in one request), scales them and stages them as samples.
///
/// A request that gets no valid answer within `timeout_ms` is sent again up to `retries` times;
/// a slave that still does not answer is reported (status, log, errors by kind) and polled again
/// at the next interval, so it is picked up as soon as it answers. A vanished adapter is reopened
/// by the ``DeviceActor``.
package struct ModbusDriver: BusDriver {
    package struct Configuration: Sendable, Equatable {
        package var device: String
        package var serial: SerialSettings
        package var pollIntervalMillis: Int
        package var timeoutMillis: Int
        package var retries: Int
        package var points: [ModbusPoint]
        package var maxGap: Int

        package init(device: String, serial: SerialSettings, pollIntervalMillis: Int = 1000, timeoutMillis: Int = 200, retries: Int = 2,
                    points: [ModbusPoint], maxGap: Int = 0) {
            self.device = device
            self.serial = serial
            self.pollIntervalMillis = pollIntervalMillis
            self.timeoutMillis = timeoutMillis
            self.retries = retries
            self.points = points
            self.maxGap = maxGap
        }
    }

    package var kind: String { "modbus_rtu" }
    package let configuration: Configuration
    private let plan: ModbusReadPlan
    /// The slaves the points name, in order (for ``detail``, read after every poll).
    private let slaves: [UInt8]
    private var port: SerialPort?
    private var indexes: [(device: UInt32, metric: UInt16)] = []
    private let clock = ContinuousClock()
    private var timer = PollTimer()
    /// When the line was last busy (a byte sent or received), for the 3.5-character silence.
    private var lastActivity = ContinuousClock().now
    /// Slaves whose last request failed: since when (wall clock, ms) and the error.
    private var failing: [UInt8: (sinceMillis: Int64, error: BusError)] = [:]
    private var answer: [UInt8] = []

    package init(configuration: Configuration) {
        self.configuration = configuration
        plan = ModbusReadPlan(points: configuration.points, maxGap: configuration.maxGap)
        slaves = Set(configuration.points.map(\.slave)).sorted()
    }

    package var detail: String? {
        let states = slaves.map { slave in
            guard let (sinceMillis, error) = failing[slave] else { return "slave \(slave) answering" }
            let since = Timestamp.formatRFC3339(micros: sinceMillis * 1000)
            // A timeout is silence; anything else (an exception, a bad CRC) is an answer that is wrong.
            return error.kind == .timeout ? "slave \(slave) not answering since \(since)" : "slave \(slave) failing since \(since): \(error.message)"
        }
        return "\(configuration.device) \(port == nil ? "closed" : "open"); " + states.joined(separator: ", ")
    }

    package mutating func connect(_ output: BusOutput) throws(BusError) {
        if indexes.isEmpty {
            indexes = configuration.points.map { (output.catalog.device($0.device), output.catalog.metric($0.metric)) }
        }
        port = try SerialPort(path: configuration.device, settings: configuration.serial)
        lastActivity = clock.now
    }

    package mutating func disconnect(_ output: BusOutput) {
        port?.close()
        port = nil
    }

    package mutating func poll(_ output: BusOutput, isolation: isolated (any Actor)? = #isolation) async throws {
        guard let port else { throw BusError(.io, "\(configuration.device) is not open", reconnect: true) }
        try await timer.wait(interval: .milliseconds(configuration.pollIntervalMillis))
        var staged = 0
        for read in plan.reads {
            try Task.checkCancellation()
            let registers: [UInt16]
            do throws(BusError) {
                registers = try transact(port, read)
            } catch {
                if error.reconnect { throw error }
                output.counters.countError(error)
                if let previous = failing[read.slave] {
                    failing[read.slave] = (previous.sinceMillis, error)
                } else {
                    failing[read.slave] = (wallClockMicros() / 1000, error)
                    output.logger.warning(error.kind == .timeout ? "modbus slave not answering" : "modbus slave failing", metadata: [
                        "slave": "\(read.slave)", "error": "\(error.message)", "error_kind": "\(error.kind)"])
                }
                continue
            }
            if let (sinceMillis, _) = failing.removeValue(forKey: read.slave) {
                output.logger.notice("modbus slave answering again", metadata: [
                    "slave": "\(read.slave)", "failing_ms": "\(wallClockMicros() / 1000 - sinceMillis)"])
            }
            let timestamp = output.receiveTimestamp()
            for (index, offset) in read.points {
                let point = plan.points[index]
                output.sample(device: indexes[index].device, metric: indexes[index].metric, timestampMicros: timestamp,
                              value: point.value(registers[offset...]))
                staged += 1
            }
        }
        if staged > 0 { output.readingTaken(samples: staged) }
    }

    /// One request and its answer, sent again on a timeout, CRC or framing error up to `retries`
    /// times; an exception answer is final.
    private mutating func transact(_ port: SerialPort, _ read: ModbusReadPlan.Read) throws(BusError) -> [UInt16] {
        let request = ModbusRTU.readRequest(slave: read.slave, table: read.table, address: read.address, count: UInt16(read.count))
        var failure = BusError(.timeout, "no answer")
        for _ in 0...configuration.retries {
            waitForSilence()
            port.flushInput()  // a late answer to an earlier request must not be taken for this one
            try port.write(request)
            lastActivity = clock.now
            do throws(BusError) {
                let frame = try receiveAnswer(port, slave: read.slave)
                return try ModbusRTU.parseReadAnswer(frame, slave: read.slave, table: read.table, count: read.count)
            } catch {
                if error.reconnect || error.kind == .exception { throw error }
                failure = error
            }
        }
        failure.message += " (after \(configuration.retries + 1) attempts)"
        throw failure
    }

    /// Reads until the answer is complete (its length follows from its first three bytes).
    private mutating func receiveAnswer(_ port: SerialPort, slave: UInt8) throws(BusError) -> [UInt8] {
        answer.removeAll(keepingCapacity: true)
        let deadline = clock.now + .milliseconds(configuration.timeoutMillis)
        while true {
            if let length = ModbusRTU.expectedLength(ofAnswer: answer[...]), answer.count >= length {
                lastActivity = clock.now
                return Array(answer.prefix(length))
            }
            let left = deadline - clock.now
            guard left > .zero else {
                throw BusError(.timeout, answer.isEmpty
                    ? "no answer from slave \(slave) within \(configuration.timeoutMillis) ms"
                    : "incomplete answer from slave \(slave) (\(answer.count) bytes) within \(configuration.timeoutMillis) ms")
            }
            let millis = max(1, Int(left.totalSeconds * 1000))
            if try port.read(into: &answer, max: 256, timeoutMillis: millis) > 0 { lastActivity = clock.now }
        }
    }

    /// Keeps the line silent for 3.5 character times after the last byte (the RTU frame gap).
    private func waitForSilence() {
        let gap = Duration.microseconds(ModbusRTU.interFrameMicros(configuration.serial))
        let quietUntil = lastActivity + gap
        let now = clock.now
        if quietUntil > now { usleep(UInt32(max(1, Int((quietUntil - now).totalSeconds * 1_000_000)))) }
    }
}
