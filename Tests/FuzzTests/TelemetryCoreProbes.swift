import TelemetryCore

/// Every decoder of TelemetryCore that takes outside bytes, run on one input with the invariants
/// that must hold whatever the bytes. Shared by the corpus tests (`FuzzCorpusTests`, in
/// `make test`) and the libFuzzer binaries of `make fuzz` (Tests/Fuzz/fuzz.sh compiles this file
/// into them), so a crash either finds is the same crash. A violated invariant traps.
enum TelemetryCoreProbes {
    /// The fuzz targets of this module, by name (the corpus folders under Tests/Fuzz/corpus).
    static let targets: [String: @Sendable ([UInt8]) -> Void] = [
        "seed_task": seedTask, "samples": samples, "hub_batch": hubBatch, "rejected_samples": rejectedSamples, "json": json,
        "spool_record": spoolRecord, "line_protocol": lineProtocol,
    ]

    /// A line-protocol body (`POST /write`, `/api/v2/write`, an MQTT payload): readings are
    /// well-formed samples, every line is accounted for.
    static func lineProtocol(_ bytes: [UInt8]) {
        let document = LineProtocolDocument.parse(bytes, nanosPerUnit: 1, mapping: LineProtocolMapping(), nowMicros: 0, maxFields: 64)
        let samples = document.samples
        precondition(samples.readings.count == samples.readingLines.count, "readings and their lines differ in number")
        precondition(samples.readings.count + samples.rejectedCount <= document.points + samples.rejectedCount, "more readings than points")
        precondition(samples.values == samples.readings.reduce(0) { $0 + $1.metrics.count }, "values miscounted")
        for reading in samples.readings {
            precondition(!reading.deviceID.isEmpty && reading.deviceID.utf8.count <= TelemetryTaskCodec.maxDeviceIDBytes, "a bad device id")
            precondition(reading.metrics.count <= 64 && reading.metrics.allSatisfy { $0.value.isFinite && !$0.name.isEmpty }, "a bad metric")
            precondition(zip(reading.metrics, reading.metrics.dropFirst()).allSatisfy { $0.name < $1.name }, "metrics not sorted and unique")
            precondition(!reading.metrics.isEmpty || !reading.labels.isEmpty, "an empty reading")
        }
        var start = 0
        while start < bytes.count {
            let end = InfluxLineProtocol.lineEnd(in: bytes, from: start)
            precondition(end >= start && end <= bytes.count, "a line ends outside the body")
            _ = try? InfluxLineProtocol.parse(bytes[start..<end])
            start = end + 1
        }
    }

    /// A seed task (`RPUSH telemetry:tasks`, `POST /v1/tasks`).
    static func seedTask(_ bytes: [UInt8]) {
        if let task = try? TelemetryTaskCodec.decode(bytes, maxFields: 64) {
            precondition(task.metrics.count <= 64, "more fields than max_fields")
            precondition(!task.id.isEmpty, "an empty task id")
        }
        _ = TelemetryTaskCodec.salvageID(bytes)
    }

    /// A `POST /v1/samples` body (NDJSON or a JSON array).
    static func samples(_ bytes: [UInt8]) {
        let document = SampleDocument.parse(bytes, maxFields: 64)
        precondition(document.readings.count == document.readingLines.count, "readings and their lines differ in number")
        precondition(document.rejected.count <= SampleDocument.maxListedRejections, "too many rejections listed")
        precondition(document.rejectedCount >= document.rejected.count, "rejections listed but not counted")
    }

    /// A hub batch from a stream entry or the spool, in any version: what decodes re-encodes to
    /// bytes that decode to the same batch (compared encoded, so NaN values compare too).
    static func hubBatch(_ bytes: [UInt8]) {
        if let header = try? HubBatchCodec.header(bytes) {
            precondition(header.sampleCount >= 0, "a negative sample count")
        }
        guard let batch = try? HubBatchCodec.decode(bytes) else { return }
        let encoded = HubBatchCodec.encode(batch)
        guard let again = try? HubBatchCodec.decode(encoded) else { preconditionFailure("a decoded batch does not decode once re-encoded") }
        precondition(HubBatchCodec.encode(again) == encoded, "re-encoding is not stable")
        precondition((try? EncodedBatch(bytes: encoded))?.sampleCount == batch.samples.count, "the header's sample count is wrong")
    }

    /// The payload of a dead letter of rejected samples (`telemetryctl dlq replay`).
    static func rejectedSamples(_ bytes: [UInt8]) {
        guard let samples = try? RejectedSample.parse(payload: bytes) else { return }
        for sample in samples {
            precondition(sample.value?.isFinite ?? true, "a non-finite value read")
            let reread = try? RejectedSample.parse(payload: Array(sample.line.utf8))
            precondition(reread?.count == 1, "a rejected sample does not read back from its own line")
        }
    }

    /// The JSON parser on its own.
    static func json(_ bytes: [UInt8]) {
        _ = try? JSONParser.parse(bytes)
        _ = JSONParser.isValidUTF8(bytes)
    }

    /// A spool segment as read back from disk at start, damaged or not: the valid records and
    /// the damaged ranges tile the bytes exactly, in order; a framed payload reads back whole.
    static func spoolRecord(_ bytes: [UInt8]) {
        let (records, damaged) = SpoolRecord.scan(bytes)
        var pieces = records.map { $0.offset..<($0.offset + SpoolRecord.headerSize + $0.length) } + damaged
        pieces.sort { $0.lowerBound < $1.lowerBound }
        var next = 0
        for piece in pieces {
            precondition(piece.lowerBound == next && !piece.isEmpty, "records and damage do not tile the segment")
            next = piece.upperBound
        }
        precondition(next == bytes.count, "bytes left unaccounted for")
        for record in records { precondition(SpoolRecord.validRecord(bytes, at: record.offset) == record.length, "an invalid record kept") }
        let framed = SpoolRecord.frame(bytes)
        precondition(SpoolRecord.validRecord(framed, at: 0) == bytes.count, "a framed payload does not read back")
    }
}
