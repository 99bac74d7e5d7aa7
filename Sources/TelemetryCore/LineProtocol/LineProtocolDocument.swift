/// The body of a line-protocol write (`POST /write`, `POST /api/v2/write`, an MQTT payload in line
/// protocol), parsed and mapped to readings by a ``LineProtocolMapping``.
///
/// Every line is judged on its own, as InfluxDB does: the good ones become readings (one per
/// point, its numeric fields the metrics), the bad ones are refused with their 1-based line, a
/// reason code and InfluxDB's message (`unable to parse '<line>': <reason>`).
///
/// ```swift
/// let body = Array("env,device_id=s1,site=north temperature=21.5,ok=true 1700000000000000000\n".utf8)
/// let document = LineProtocolDocument.parse(body, nanosPerUnit: 1, mapping: LineProtocolMapping(), nowMicros: 0)
/// document.samples.readings[0].metrics  // ok = 1, temperature = 21.5
/// ```
public struct LineProtocolDocument: Sendable {
    /// The accepted readings and the refused lines.
    public var samples = SampleDocument()
    /// String fields kept as labels (``LineProtocolMapping/StringFields/keep``).
    public var stringFieldsKept = 0
    /// String fields whose line was refused for them (``LineProtocolMapping/StringFields/reject``).
    public var stringFieldsRejected = 0
    /// Lines that were neither blank nor comments.
    public var points = 0

    /// A sample's identity: device, metric and time.
    private struct SampleKey: Hashable {
        var device: String
        var metric: String
        var micros: Int64
    }

    /// Each sample taken so far: the reading holding it, its series (a hash of the measurement
    /// and tags, in any order) and its line.
    private var taken: [SampleKey: (reading: Int, series: Int, line: Int)] = [:]

    /// The most bytes of a refused line quoted in its message.
    public static let maxQuotedBytes = 1024

    /// Parses `body`; timestamps are in units of `nanosPerUnit` nanoseconds
    /// (``InfluxLineProtocol/nanosPerUnit(precision:v1:)``), and a point without one is stamped
    /// `nowMicros` (the request's arrival). A line with more than `maxFields` numeric fields is
    /// refused (`too_large`).
    public static func parse(_ body: [UInt8], nanosPerUnit: Int64, mapping: LineProtocolMapping, nowMicros: Int64,
                             maxFields: Int = ValidationPolicy.defaultMaxFields) -> LineProtocolDocument {
        var document = LineProtocolDocument()
        document.taken.reserveCapacity(min(body.count / 24, 1 << 20))
        // A line's number is that of its first physical line (a quoted string may span several).
        var number = 1
        var start = 0
        while start < body.count {
            let end = InfluxLineProtocol.lineEnd(in: body, from: start)
            let line = body[start..<end]
            document.take(line, number: number, nanosPerUnit: nanosPerUnit, mapping: mapping, nowMicros: nowMicros, maxFields: maxFields)
            number += 1 + line.lazy.filter { $0 == UInt8(ascii: "\n") }.count
            start = end + 1
        }
        return document
    }

    private mutating func take(_ line: ArraySlice<UInt8>, number: Int, nanosPerUnit: Int64, mapping: LineProtocolMapping,
                               nowMicros: Int64, maxFields: Int) {
        do throws(TelemetryError) {
            guard JSONParser.isValidUTF8(line) else { throw TelemetryError(.invalidUTF8, "invalid UTF-8") }
            let parsed: InfluxLineProtocol.Point?
            do {
                parsed = try InfluxLineProtocol.parse(line)
            } catch {
                throw TelemetryError(.malformedLine, error.reason)
            }
            guard let point = parsed else { return }
            points += 1
            if let reading = try reading(point, nanosPerUnit: nanosPerUnit, mapping: mapping, nowMicros: nowMicros, maxFields: maxFields) {
                try deduplicate(reading, point: point, mapping: mapping, line: number)
                samples.append(reading, line: number)
            }
        } catch {
            // Quoted as InfluxDB quotes it: without leading blanks.
            let quoted = line.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0 }
            let cut = quoted.count > Self.maxQuotedBytes
            let text = String(decoding: quoted.prefix(Self.maxQuotedBytes), as: UTF8.self) + (cut ? "…" : "")
            samples.reject(line: number, reason: error.code.description, message: "unable to parse '\(text)': \(error.message)")
        }
    }

    /// The reading of one point; nil for a point without a numeric field whose strings are kept
    /// and that carries no label (nothing to store).
    private mutating func reading(_ point: InfluxLineProtocol.Point, nanosPerUnit: Int64, mapping: LineProtocolMapping,
                                  nowMicros: Int64, maxFields: Int) throws(TelemetryError) -> SampleReading? {
        var timestamp = nowMicros
        if let given = point.timestamp {
            guard let micros = InfluxLineProtocol.micros(timestamp: given, nanosPerUnit: nanosPerUnit) else {
                throw TelemetryError(.invalidField, "time outside range \(given)")
            }
            timestamp = micros
        }
        guard let deviceTag = mapping.deviceTags.first(where: { tag in point.tags.contains { $0.key == tag } }),
              let device = point.tags.first(where: { $0.key == deviceTag })?.value else {
            throw TelemetryError(.missingField, "no device tag (one of \(mapping.deviceTags.joined(separator: ", ")))")
        }
        guard device.utf8.count <= TelemetryTaskCodec.maxDeviceIDBytes else {
            throw TelemetryError(.invalidField, "device \(PrintableName(device)) is over \(TelemetryTaskCodec.maxDeviceIDBytes) bytes")
        }
        guard !ValidationPolicy.containsControlCharacters(device) else {
            throw TelemetryError(.invalidField, "device \(PrintableName(device)) contains control characters")
        }
        var labels: [DeviceLabel] = []
        for tag in point.tags where tag.key != deviceTag {
            labels.append(try Self.label(tag.key, tag.value, .tag))
        }
        var metrics: [MetricValue] = []
        var strings = 0
        for field in point.fields {
            let value: Double
            switch field.value {
            case .float(let number): value = number
            case .integer(let number): value = Double(number)
            case .unsigned(let number): value = Double(number)
            case .boolean(let flag): value = flag ? 1 : 0
            case .string(let text):
                guard mapping.stringFields == .keep else {
                    stringFieldsRejected += 1
                    throw TelemetryError(.invalidField, "string field \(PrintableName(field.key)) (line_protocol.string_fields: reject)")
                }
                labels.append(try Self.label(field.key, text, .field))
                strings += 1
                continue
            }
            let name = mapping.metricNaming == .field ? field.key : "\(point.measurement).\(field.key)"
            guard name.utf8.count <= 64 else { throw TelemetryError(.invalidField, "metric \(PrintableName(name)) is over 64 bytes") }
            guard !ValidationPolicy.containsControlCharacters(name) else {
                throw TelemetryError(.invalidField, "metric \(PrintableName(name)) contains control characters")
            }
            guard metrics.count < maxFields else {
                throw TelemetryError(.tooLarge, "more than \(maxFields) numeric fields (validation.max_fields)")
            }
            metrics.append(MetricValue(name: name, value: value))
        }
        stringFieldsKept += strings
        guard !metrics.isEmpty || !labels.isEmpty else { return nil }
        metrics.sort { $0.name < $1.name }
        return SampleReading(deviceID: device, timestampMicros: timestamp, metrics: metrics, labels: labels)
    }

    /// Two points of a body that become the same sample (device, metric and time): of one series
    /// (measurement and tags) the later one wins, as InfluxDB overwrites a point; of two series
    /// the later line is refused, since storing one would silently drop the other (Telegraf's
    /// `cpu` points per `cpu` tag under one `host`, for example): name the distinguishing tag in
    /// `line_protocol.device_tags` or set `metric_name: measurement.field`.
    private mutating func deduplicate(_ reading: SampleReading, point: InfluxLineProtocol.Point, mapping: LineProtocolMapping,
                                      line: Int) throws(TelemetryError) {
        // Order-independent: the sum of each tag's hash.
        var series = point.measurement.hashValue
        for tag in point.tags {
            var hasher = Hasher()
            hasher.combine(tag.key)
            hasher.combine(tag.value)
            series &+= hasher.finalize()
        }
        var overwritten: [(reading: Int, metric: String)] = []
        for metric in reading.metrics {
            let key = SampleKey(device: reading.deviceID, metric: metric.name, micros: reading.timestampMicros)
            if let earlier = taken[key] {
                guard earlier.series == series else {
                    throw TelemetryError(.invalidField, "\(PrintableName(metric.name)) of device \(PrintableName(reading.deviceID)) at this time comes from "
                                         + "line \(earlier.line) too, with other tags or measurement: name the tag that tells them apart in "
                                         + "line_protocol.device_tags or set line_protocol.metric_name: measurement.field")
                }
                overwritten.append((earlier.reading, metric.name))
            }
        }
        for (index, name) in overwritten {
            samples.readings[index].metrics.removeAll { $0.name == name }
            samples.values -= 1
        }
        for metric in reading.metrics {
            taken[SampleKey(device: reading.deviceID, metric: metric.name, micros: reading.timestampMicros)] = (samples.readings.count, series, line)
        }
    }

    private static func label(_ key: String, _ value: String, _ kind: DeviceLabel.Kind) throws(TelemetryError) -> DeviceLabel {
        let what = kind == .tag ? "tag" : "string field"
        guard key.utf8.count <= DeviceLabel.maxKeyBytes, value.utf8.count <= DeviceLabel.maxValueBytes else {
            throw TelemetryError(.invalidField, "\(what) \(PrintableName(key)) is over \(DeviceLabel.maxKeyBytes) bytes or its value over \(DeviceLabel.maxValueBytes)")
        }
        guard !ValidationPolicy.containsControlCharacters(key), !value.utf8.contains(0) else {
            throw TelemetryError(.invalidField, "\(what) \(PrintableName(key)) contains control characters or NUL")
        }
        return DeviceLabel(key: key, value: value, kind: kind)
    }
}
