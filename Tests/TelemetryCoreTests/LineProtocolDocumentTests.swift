import TelemetryCore
import Testing

/// Line-protocol bodies mapped to readings (Docs/http-ingest.md).
@Suite("Line protocol documents")
struct LineProtocolDocumentTests {
    static func parse(_ text: String, precision: Int64 = 1, mapping: LineProtocolMapping = LineProtocolMapping(), now: Int64 = 1_000,
                      maxFields: Int = 1024) -> LineProtocolDocument {
        LineProtocolDocument.parse(Array(text.utf8), nanosPerUnit: precision, mapping: mapping, nowMicros: now, maxFields: maxFields)
    }

    @Test("a point is one reading: numeric fields as metrics (booleans 0 and 1), other tags and strings as labels, nanoseconds floored to microseconds")
    func mapping() throws {
        let document = Self.parse(#"env,site=north,device_id=s1 temperature=21.5,n=3i,u=7u,ok=true,off=F,status="run" 1700000000000000999"#)
        let reading = try #require(document.samples.readings.first)
        #expect(reading.deviceID == "s1" && reading.timestampMicros == 1_700_000_000_000_000)
        #expect(reading.metrics == [MetricValue(name: "n", value: 3), MetricValue(name: "off", value: 0), MetricValue(name: "ok", value: 1),
                                    MetricValue(name: "temperature", value: 21.5), MetricValue(name: "u", value: 7)])
        #expect(reading.labels == [DeviceLabel(key: "site", value: "north", kind: .tag), DeviceLabel(key: "status", value: "run", kind: .field)])
        #expect(document.stringFieldsKept == 1 && document.samples.values == 5 && document.points == 1)
    }

    @Test("the device tag by preference (device_id, device, host, or as configured); none is a refusal naming them")
    func deviceTag() {
        #expect(Self.parse("m,host=h,device=d f=1").samples.readings.first?.deviceID == "d")
        #expect(Self.parse("m,host=h f=1").samples.readings.first?.deviceID == "h")
        let custom = LineProtocolMapping(deviceTags: ["sensor"])
        #expect(Self.parse("m,device_id=x,sensor=s9 f=1", mapping: custom).samples.readings.first?.deviceID == "s9")
        let refused = Self.parse("m,site=a f=1")
        #expect(refused.samples.readings.isEmpty && refused.samples.rejected.first?.reason == "missing_field")
        #expect(refused.samples.rejected.first?.message == "unable to parse 'm,site=a f=1': no device tag (one of device_id, device, host)")
    }

    @Test("measurement.field naming, string fields refused by configuration (counted), and the limits on names")
    func configuration() {
        let named = Self.parse("env,device_id=a t=1", mapping: LineProtocolMapping(metricNaming: .measurementField))
        #expect(named.samples.readings.first?.metrics.first?.name == "env.t")
        let strict = Self.parse("m,device_id=a t=1,s=\"x\"\nm,device_id=a t=2", mapping: LineProtocolMapping(stringFields: .reject))
        #expect(strict.samples.readings.count == 1 && strict.samples.rejected.first?.line == 1 && strict.stringFieldsRejected == 1)
        #expect(strict.samples.rejected.first?.reason == "invalid_field")
        let long = Self.parse("m,device_id=\(String(repeating: "d", count: 129)) f=1\nm,device_id=a \(String(repeating: "k", count: 65))=1\n"
                              + "m,device_id=a\\ b,site=\(String(repeating: "v", count: 4097)) f=1\nm,device_id=a f=1,g=2,h=3", maxFields: 2)
        #expect(long.samples.readings.isEmpty && long.samples.rejected.map(\.line) == [1, 2, 3, 4])
        #expect(long.samples.rejected.map(\.reason) == ["invalid_field", "invalid_field", "invalid_field", "too_large"])
        let control = Self.parse("m,device_id=a\u{01} f=1\nm,device_id=a f\u{7f}=1\nm,device_id=a,k=v\u{00}x f=1")
        #expect(control.samples.readings.isEmpty && control.samples.rejectedCount == 3)
    }

    @Test("precision scales timestamps; no timestamp is the request's time; out of range once scaled is refused")
    func timestamps() {
        #expect(Self.parse("m,device_id=a f=1 1700000000", precision: 1_000_000_000).samples.readings.first?.timestampMicros == 1_700_000_000_000_000)
        #expect(Self.parse("m,device_id=a f=1 -1", precision: 1).samples.readings.first?.timestampMicros == -1)
        #expect(Self.parse("m,device_id=a f=1", now: 42).samples.readings.first?.timestampMicros == 42)
        let far = Self.parse("m,device_id=a f=1 9223372037", precision: 1_000_000_000)
        #expect(far.samples.readings.isEmpty && far.samples.rejected.first?.message.hasSuffix("time outside range 9223372037") == true)
    }

    @Test("lines are split as influxd splits them: a quoted newline stays in its value, an unbalanced quote takes the rest of the body, line numbers are physical")
    func splitting() {
        let multi = Self.parse("m,device_id=a s=\"two\nlines\",f=1 5\n# comment\n\nm,device_id=b f=2 6\n")
        #expect(multi.samples.readings.map(\.deviceID) == ["a", "b"] && multi.samples.readingLines == [1, 5])
        #expect(multi.samples.readings[0].labels == [DeviceLabel(key: "s", value: "two\nlines", kind: .field)])
        let swallowed = Self.parse("m,device_id=a f=1\nm,device_id=b f=\"open\nm,device_id=c f=3\nm,device_id=d f=4")
        #expect(swallowed.samples.readings.map(\.deviceID) == ["a"] && swallowed.samples.rejectedCount == 1 && swallowed.samples.rejected[0].line == 2)
        let blank = Self.parse("\n  \n# only comments\n")
        #expect(blank.samples.readings.isEmpty && blank.samples.rejectedCount == 0 && blank.points == 0)
    }

    @Test("invalid UTF-8 is refused with its line; a huge refused line is quoted cut")
    func hostile() {
        let bytes: [UInt8] = Array("m,device_id=a f=1\n".utf8) + [0x6D, 0x2C, 0xFF, 0x3D, 0x61, 0x20, 0x66, 0x3D, 0x31]
        let document = LineProtocolDocument.parse(bytes, nanosPerUnit: 1, mapping: LineProtocolMapping(), nowMicros: 0)
        #expect(document.samples.readings.count == 1 && document.samples.rejected.first?.reason == "invalid_utf8")
        let huge = Self.parse("m,device_id=a f=" + String(repeating: "9", count: 5000) + "x")
        #expect(huge.samples.rejected.first.map { $0.message.utf8.count < 1200 && $0.message.contains("…") } == true)
    }

    @Test("points that become the same sample: of one series the later wins (as influxd overwrites); of two series the later line is refused, not silently dropped")
    func collisions() {
        let same = Self.parse("m,device_id=a,k=v f=1,g=5 7\nm,k=v,device_id=a f=2 7", precision: 1_000_000_000)
        #expect(same.samples.rejectedCount == 0 && same.samples.values == 2)
        #expect(same.samples.readings.map(\.metrics) == [[MetricValue(name: "g", value: 5)], [MetricValue(name: "f", value: 2)]])
        let cpus = Self.parse("cpu,host=h,cpu=cpu0 usage_idle=90 7\ncpu,host=h,cpu=cpu1 usage_idle=80 7\ncpu,host=h,cpu=cpu1 usage_idle=81 8",
                              precision: 1_000_000_000)
        #expect(cpus.samples.readings.count == 2 && cpus.samples.rejected.map(\.line) == [2])
        #expect(cpus.samples.rejected.first?.message.contains("line_protocol.device_tags") == true)
        let byDevice = Self.parse("cpu,host=h,cpu=cpu0 usage_idle=90 7\ncpu,host=h,cpu=cpu1 usage_idle=80 7", precision: 1_000_000_000,
                                  mapping: LineProtocolMapping(deviceTags: ["cpu"]))
        // Nanoseconds a microsecond apart become one sample time: of two series, refused too.
        #expect(Self.parse("m,device_id=a,k=1 f=1 1000\nm,device_id=a,k=2 f=2 1999").samples.rejectedCount == 1)
        #expect(byDevice.samples.readings.count == 2 && byDevice.samples.rejectedCount == 0)
    }
}
