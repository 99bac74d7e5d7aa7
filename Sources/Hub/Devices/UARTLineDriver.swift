import Buses
import TelemetryCore

/// A UART whose sensors print one reading per line in the line protocol (``LineProtocol``).
///
/// Lines that do not parse, lines over the length limit and the unfinished line of a device that
/// went away are dead-lettered with their raw bytes and counted; the reader carries on.
package struct UARTLineDriver: BusDriver {
    package struct Configuration: Sendable, Equatable {
        package var device: String
        package var serial: SerialSettings
        package var readTimeoutMillis: Int
        package var precision: TimestampPrecision
        package var maxLineBytes: Int
        /// Most numeric fields of one line (the hub's `validation.max_fields`).
        package var maxFields: Int

        package init(device: String, serial: SerialSettings, readTimeoutMillis: Int = 500, precision: TimestampPrecision = .milliseconds,
                    maxLineBytes: Int = 4096, maxFields: Int = ValidationPolicy.defaultMaxFields) {
            self.maxFields = maxFields
            self.device = device
            self.serial = serial
            self.readTimeoutMillis = readTimeoutMillis
            self.precision = precision
            self.maxLineBytes = maxLineBytes
        }
    }

    package var kind: String { "uart_lines" }
    package let configuration: Configuration
    private var port: SerialPort?
    private var framer: LineFramer
    private var received: [UInt8] = []
    private var names = NameCache()
    /// Lines received since the hub started (the dead letters' `source_id` names the line).
    private var lineNumber = 0

    package init(configuration: Configuration) {
        self.configuration = configuration
        framer = LineFramer(maxLineBytes: configuration.maxLineBytes)
        received.reserveCapacity(4096)
    }

    package var detail: String? { port == nil ? "\(configuration.device) closed" : "\(configuration.device) open, \(lineNumber) lines" }

    package mutating func connect(_ output: BusOutput) throws(BusError) {
        port = try SerialPort(path: configuration.device, settings: configuration.serial)
    }

    package mutating func disconnect(_ output: BusOutput) {
        port?.close()
        port = nil
        let partial = framer.reset()
        if !partial.isEmpty {
            lineNumber += 1
            output.deadLetter(TelemetryError(.malformedLine, "incomplete line: the device went away before its newline"),
                              payload: partial, sourceID: "\(output.busName):\(lineNumber)")
        }
    }

    package mutating func poll(_ output: BusOutput, isolation: isolated (any Actor)? = #isolation) async throws {
        guard let port else { throw BusError(.io, "\(configuration.device) is not open", reconnect: true) }
        received.removeAll(keepingCapacity: true)
        try port.read(into: &received, timeoutMillis: configuration.readTimeoutMillis)
        // The framer is moved out while its lines are handled (`handle` mutates self), so each line
        // is handled as it is framed, with no array of lines and no copy of the framer's buffer.
        var framing = LineFramer(maxLineBytes: configuration.maxLineBytes)
        swap(&framing, &framer)
        defer { swap(&framing, &framer) }
        framing.feed(received) { handle($0, output) }
    }

    private mutating func handle(_ line: LineFramer.Output, _ output: BusOutput) {
        lineNumber += 1
        var sourceID: String { "\(output.busName):\(lineNumber)" }  // for dead letters only
        switch line {
        case .tooLong(let prefix):
            output.deadLetter(TelemetryError(.tooLarge, "line longer than \(configuration.maxLineBytes) bytes (max_line_bytes)"),
                              payload: Array(prefix), sourceID: sourceID)
        case .line(let bytes):
            do throws(TelemetryError) {
                guard let reading = try LineProtocol.parse(bytes, precision: configuration.precision, maxFields: configuration.maxFields) else {
                    lineNumber -= 1  // blank lines and comments are not counted
                    return
                }
                let (device, metrics) = try names.indexes(of: reading, in: output.catalog)
                let timestamp = reading.timestampMicros ?? output.receiveTimestamp()
                for (field, metric) in zip(reading.fields, metrics) {
                    output.sample(device: device, metric: metric, timestampMicros: timestamp, value: field.value)
                }
                output.readingTaken(samples: reading.fields.count)
            } catch {
                output.deadLetter(error, payload: Array(bytes), sourceID: sourceID)
            }
        }
    }
}

/// Device and metric names a bus has seen, with their catalog indexes (the catalog's lock is
/// taken only for a name not seen before).
struct NameCache {
    private var devices: [String: UInt32] = [:]
    private var metrics: [String: UInt16] = [:]

    /// The device's index and each field's metric index; `invalid_field` when a table is full.
    mutating func indexes(of reading: LineReading, in catalog: DeviceCatalog) throws(TelemetryError) -> (UInt32, [UInt16]) {
        guard let device = device(reading.device, catalog) else {
            throw TelemetryError(.invalidField, "the hub's device table is full (\(DeviceCatalog.maxDevices) names)")
        }
        var indexes: [UInt16] = []
        for field in reading.fields {
            guard let metric = metric(field.name, catalog) else {
                throw TelemetryError(.invalidField, "the hub's metric table is full (\(DeviceCatalog.maxMetrics) names)")
            }
            indexes.append(metric)
        }
        return (device, indexes)
    }

    mutating func device(_ name: String, _ catalog: DeviceCatalog) -> UInt32? {
        if let index = devices[name] { return index }
        let index = catalog.deviceIfRoom(name)
        devices[name] = index
        return index
    }

    mutating func metric(_ name: String, _ catalog: DeviceCatalog) -> UInt16? {
        if let index = metrics[name] { return index }
        let index = catalog.metricIfRoom(name)
        metrics[name] = index
        return index
    }
}
