/// A batch of samples as the hub publishes it: one entry of one shard stream.
///
/// Devices and metrics are named once in per-batch tables; samples refer to them by index, so
/// a batch of 1 000 samples carries each device name once.
///
/// ```swift
/// var batch = HubBatch(id: "h1-42", shard: 3, createdMicros: now)
/// let d = batch.deviceIndex(of: "sensor_001")
/// batch.samples.append(Sample(deviceIndex: d, metricIndex: 0, timestampMicros: now, value: 21.5))
/// let bytes = HubBatchCodec.encode(batch)
/// ```
public struct HubBatch: Sendable, Equatable {
    /// Stable id assigned once at the hub; the processor's idempotency key.
    public var id: String
    /// The shard stream the batch goes to (0-based; at most 65 535 on the wire).
    public var shard: Int
    /// When the hub closed the batch, microseconds since the epoch.
    public var createdMicros: Int64
    /// The device table: ``Sample/deviceIndex`` indexes it.
    public var devices: [String]
    /// The metric table: ``Sample/metricIndex`` indexes it.
    public var metrics: [String]
    /// The samples, their device and metric given as indexes into the tables.
    public var samples: [Sample]
    /// Samples a client is (or will be) told are durable (HTTP ingest): no drop policy may drop
    /// them. Carried in the header (flag bit 0 of the reserved byte), so the spool keeps it.
    public var acknowledged: Bool
    /// The tenant the batch's devices belong to (Docs/tenants.md); empty: the default tenant.
    /// Carried in version 3 only, so a batch of the default tenant is written as before.
    public var tenant: String
    /// Device labels (line-protocol tags and kept string fields), at most one per device, kind and
    /// key (the latest). Carried in version 4 only, written only for a batch that has labels.
    public var labels: [BatchLabel]

    /// A batch; the tables and samples start empty unless given.
    public init(id: String, shard: Int, createdMicros: Int64, devices: [String] = [], metrics: [String] = [], samples: [Sample] = [],
                acknowledged: Bool = false, tenant: String = "", labels: [BatchLabel] = []) {
        self.id = id
        self.shard = shard
        self.createdMicros = createdMicros
        self.devices = devices
        self.metrics = metrics
        self.samples = samples
        self.acknowledged = acknowledged
        self.tenant = tenant
        self.labels = labels
    }
}

/// A device label as a batch carries it: its device by index into ``HubBatch/devices``, and the
/// time of the reading that carried it.
public struct BatchLabel: Sendable, Equatable {
    /// Index into the batch's device table.
    public var deviceIndex: UInt32
    /// The time of the reading that carried the label, microseconds since the epoch.
    public var timestampMicros: Int64
    /// Key, value and kind.
    public var label: DeviceLabel

    /// A label of device `deviceIndex` seen at `timestampMicros`.
    public init(deviceIndex: UInt32, timestampMicros: Int64, label: DeviceLabel) {
        self.deviceIndex = deviceIndex
        self.timestampMicros = timestampMicros
        self.label = label
    }
}

/// A batch encoded once, with the header fields needed to route it (stream key and `id` field),
/// so the publisher's direct path, its spool and its replay never encode or decode it again.
public struct EncodedBatch: Sendable, Equatable {
    /// The batch id (``HubBatch/id``).
    public let id: String
    /// The shard stream the batch goes to.
    public let shard: Int
    /// The number of samples in the batch.
    public let sampleCount: Int
    /// The encoded batch (``HubBatchCodec``).
    public let bytes: [UInt8]
    /// The format version of ``bytes`` (the header's third byte).
    public var version: UInt8 { bytes[2] }
    /// See ``HubBatch/acknowledged`` (the header's flags byte).
    public var acknowledged: Bool { bytes[3] & HubBatchCodec.acknowledgedFlag != 0 }

    /// Encodes `batch` in the current version.
    public init(_ batch: HubBatch) {
        id = batch.id
        shard = batch.shard
        sampleCount = batch.samples.count
        bytes = HubBatchCodec.encode(batch)
    }

    /// Reads only the header of already encoded bytes (a spooled record).
    public init(bytes: [UInt8]) throws(TelemetryError) {
        let header = try HubBatchCodec.header(bytes)
        id = header.id
        shard = header.shard
        sampleCount = header.sampleCount
        self.bytes = bytes
    }
}

/// The binary wire format of ``HubBatch`` (little endian):
///
/// ```
/// "TB" version:u8 flags:u8 created:i64 id:str [v3: tenant:str] shard:u16
/// ndevices:u16 str* nmetrics:u16 str* nsamples:u32 samples
/// str = length:u16 utf8-bytes
/// v1 samples: (device:u32 metric:u16 ts:i64 value:f64)*                      22 bytes each
/// v2 samples: base_ts:i64 (device:varint metric:varint Δts:zigzag-varint value:f64)*   ~12 bytes each
/// v3 samples: as v2
/// v4: as v3, then after the samples nlabels:u32 (device:varint kind:u8 ts:i64 key:str value:str)*
/// ```
/// Version 4 is version 3 with the device labels after the samples; it is written only for a
/// batch that carries labels (line protocol), so every other batch is written as before.
/// Version 3 is version 2 with the batch's tenant after its id; it is written only for a batch of
/// a tenant other than the default one, so a deployment without tenants writes version 2 as
/// before. Version 2 is current (timestamps as deltas from the previous sample, LEB128 varints). The
/// decoder also accepts version 1, so a processor upgraded before its hubs, or a hub upgraded with
/// batches still in the streams and spool, loses nothing during a rolling upgrade. `flags` bit 0
/// marks a batch acknowledged to a client; decoders ignore bits they do not know (the byte was
/// reserved and zero before).
public enum HubBatchCodec {
    static let acknowledgedFlag: UInt8 = 1
    /// Most device or metric names one batch can carry (their counts are u16 on the wire). A batch
    /// of at most this many samples never names more; builders close batches at this size.
    public static let maxTableEntries = Int(UInt16.max)
    /// The version ``encode(_:version:)`` writes unless asked otherwise.
    public static let currentVersion: UInt8 = 2
    /// The versions ``decode(_:)`` and ``header(_:)`` read (and ``encode(_:version:)`` writes).
    public static let supportedVersions: ClosedRange<UInt8> = 1...4
    /// The version of a batch that names a tenant.
    public static let tenantVersion: UInt8 = 3
    /// The version of a batch that carries labels.
    public static let labelsVersion: UInt8 = 4
    static let v1SampleSize = 22

    /// Encodes `batch` in `version` (unless asked otherwise: the current one, or ``tenantVersion``
    /// for a batch with a tenant). The batch names at most ``maxTableEntries`` devices and metrics
    /// (every builder closes batches at that many samples).
    public static func encode(_ batch: HubBatch, version requested: UInt8? = nil) -> [UInt8] {
        let version = requested ?? (!batch.labels.isEmpty ? labelsVersion : batch.tenant.isEmpty ? currentVersion : tenantVersion)
        precondition(supportedVersions.contains(version), "cannot encode version \(version)")
        precondition(batch.tenant.isEmpty || version >= tenantVersion, "version \(version) cannot carry a tenant")
        precondition(batch.labels.isEmpty || version >= labelsVersion, "version \(version) cannot carry labels")
        var out: [UInt8] = []
        out.reserveCapacity(40 + batch.id.utf8.count + (batch.devices.count + batch.metrics.count) * 24
                            + batch.samples.count * (version == 1 ? v1SampleSize : 14))
        out.append(UInt8(ascii: "T"))
        out.append(UInt8(ascii: "B"))
        out.append(version)
        out.append(batch.acknowledged ? acknowledgedFlag : 0)
        append(&out, batch.createdMicros)
        appendString(&out, batch.id)
        if version >= tenantVersion { appendString(&out, batch.tenant) }
        append(&out, UInt16(truncatingIfNeeded: batch.shard))
        precondition(batch.devices.count <= maxTableEntries && batch.metrics.count <= maxTableEntries,
                     "a batch names at most \(maxTableEntries) devices and metrics")
        append(&out, UInt16(batch.devices.count))
        for device in batch.devices { appendString(&out, device) }
        append(&out, UInt16(batch.metrics.count))
        for metric in batch.metrics { appendString(&out, metric) }
        append(&out, UInt32(batch.samples.count))
        if version == 1 {
            for sample in batch.samples {
                append(&out, sample.deviceIndex)
                append(&out, sample.metricIndex)
                append(&out, sample.timestampMicros)
                append(&out, sample.value.bitPattern)
            }
            return out
        }
        var previous = batch.samples.first?.timestampMicros ?? 0
        append(&out, previous)
        for sample in batch.samples {
            appendVarint(&out, UInt64(sample.deviceIndex))
            appendVarint(&out, UInt64(sample.metricIndex))
            let delta = sample.timestampMicros &- previous
            appendVarint(&out, UInt64(bitPattern: (delta << 1) ^ (delta >> 63)))
            previous = sample.timestampMicros
            append(&out, sample.value.bitPattern)
        }
        if version >= labelsVersion {
            append(&out, UInt32(batch.labels.count))
            for label in batch.labels {
                appendVarint(&out, UInt64(label.deviceIndex))
                out.append(label.label.kind.rawValue)
                append(&out, label.timestampMicros)
                appendString(&out, label.label.key)
                appendString(&out, label.label.value)
            }
        }
        return out
    }

    /// Decodes a batch of any supported version, validating every length and index. Throws
    /// ``TelemetryError`` with `unsupported_version`, `invalid_utf8` or `invalid_field`
    /// (truncated or inconsistent data).
    public static func decode(_ bytes: [UInt8]) throws(TelemetryError) -> HubBatch {
        var reader = ByteReader(bytes: bytes)
        guard bytes.count >= 4, bytes[0] == UInt8(ascii: "T"), bytes[1] == UInt8(ascii: "B") else {
            throw TelemetryError(.invalidField, "batch payload does not start with the TB magic")
        }
        let version = bytes[2]
        guard supportedVersions.contains(version) else {
            throw TelemetryError(.unsupportedVersion, "batch format version \(version) is not supported (supported: \(supportedVersions))")
        }
        reader.offset = 4
        let created: Int64 = try reader.read()
        let id = try reader.readString()
        let tenant = version >= tenantVersion ? try reader.readString() : ""
        let shard: UInt16 = try reader.read()
        let deviceCount: UInt16 = try reader.read()
        var devices: [String] = []
        devices.reserveCapacity(Int(deviceCount))
        for _ in 0..<deviceCount { devices.append(try reader.readString()) }
        let metricCount: UInt16 = try reader.read()
        var metrics: [String] = []
        metrics.reserveCapacity(Int(metricCount))
        for _ in 0..<metricCount { metrics.append(try reader.readString()) }
        let sampleCount: UInt32 = try reader.read()
        // Each sample takes at least 11 bytes in v2 and exactly 22 in v1: refuse impossible counts
        // before reserving memory for them.
        let minimum = version == 1 ? v1SampleSize : 11
        guard reader.remaining >= Int(sampleCount) * minimum else {
            throw TelemetryError(.invalidField, "batch announces \(sampleCount) samples but carries \(reader.remaining) bytes of them")
        }
        var samples: [Sample] = []
        samples.reserveCapacity(Int(sampleCount))
        var previous: Int64 = version == 1 ? 0 : try reader.read()
        for _ in 0..<sampleCount {
            let device: UInt64, metric: UInt64, ts: Int64
            if version == 1 {
                device = UInt64(try reader.read() as UInt32)
                metric = UInt64(try reader.read() as UInt16)
                ts = try reader.read()
            } else {
                device = try reader.readVarint()
                metric = try reader.readVarint()
                let zigzag = try reader.readVarint()
                ts = previous &+ (Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1))
                previous = ts
            }
            let bits: UInt64 = try reader.read()
            guard device < devices.count, metric < metrics.count else {
                throw TelemetryError(.invalidField, "sample refers to device \(device) / metric \(metric) outside the batch tables")
            }
            samples.append(Sample(deviceIndex: UInt32(device), metricIndex: UInt16(metric), timestampMicros: ts, value: Double(bitPattern: bits)))
        }
        var labels: [BatchLabel] = []
        if version >= labelsVersion {
            let count: UInt32 = try reader.read()
            // Each label takes at least 14 bytes: refuse impossible counts before reserving memory.
            guard reader.remaining >= Int(count) * 14 else {
                throw TelemetryError(.invalidField, "batch announces \(count) labels but carries \(reader.remaining) bytes of them")
            }
            labels.reserveCapacity(Int(count))
            for _ in 0..<count {
                let device = try reader.readVarint()
                let rawKind: UInt8 = try reader.read()
                let ts: Int64 = try reader.read()
                let key = try reader.readString()
                let value = try reader.readString()
                guard device < devices.count, let kind = DeviceLabel.Kind(rawValue: rawKind) else {
                    throw TelemetryError(.invalidField, "label refers to device \(device) outside the batch table, or has kind \(rawKind)")
                }
                labels.append(BatchLabel(deviceIndex: UInt32(device), timestampMicros: ts, label: DeviceLabel(key: key, value: value, kind: kind)))
            }
        }
        guard reader.remaining == 0 else {
            throw TelemetryError(.invalidField, "batch carries \(reader.remaining) bytes after its last sample")
        }
        return HubBatch(id: id, shard: Int(shard), createdMicros: created, devices: devices, metrics: metrics, samples: samples,
                        acknowledged: bytes[3] & acknowledgedFlag != 0, tenant: tenant, labels: labels)
    }

    /// The id, shard and sample count of an encoded batch, without decoding its samples.
    public static func header(_ bytes: [UInt8]) throws(TelemetryError) -> (id: String, shard: Int, sampleCount: Int) {
        guard bytes.count >= 4, bytes[0] == UInt8(ascii: "T"), bytes[1] == UInt8(ascii: "B") else {
            throw TelemetryError(.invalidField, "batch payload does not start with the TB magic")
        }
        guard supportedVersions.contains(bytes[2]) else {
            throw TelemetryError(.unsupportedVersion, "batch format version \(bytes[2]) is not supported (supported: \(supportedVersions))")
        }
        var reader = ByteReader(bytes: bytes)
        reader.offset = 4
        let _: Int64 = try reader.read()
        let id = try reader.readString()
        if bytes[2] >= tenantVersion { _ = try reader.readString() }
        let shard: UInt16 = try reader.read()
        for _ in 0..<(try reader.read() as UInt16) { _ = try reader.readString() }
        for _ in 0..<(try reader.read() as UInt16) { _ = try reader.readString() }
        let count: UInt32 = try reader.read()
        return (id, Int(shard), Int(count))
    }

    @inline(__always)
    static func appendVarint(_ out: inout [UInt8], _ value: UInt64) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    @inline(__always)
    static func append<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    static func appendString(_ out: inout [UInt8], _ string: String) {
        let count = min(string.utf8.count, Int(UInt16.max))
        append(&out, UInt16(count))
        out.append(contentsOf: string.utf8.prefix(count))
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    var remaining: Int { bytes.count - offset }

    mutating func read<T: FixedWidthInteger>() throws(TelemetryError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw TelemetryError(.invalidField, "batch payload truncated at byte \(offset)") }
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        offset += size
        return T(littleEndian: value)
    }

    mutating func readVarint() throws(TelemetryError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count else { throw TelemetryError(.invalidField, "batch payload truncated at byte \(offset)") }
            let byte = bytes[offset]
            offset += 1
            guard shift < 64 else { throw TelemetryError(.invalidField, "varint too long at byte \(offset)") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    mutating func readString() throws(TelemetryError) -> String {
        let count = Int(try read() as UInt16)
        guard remaining >= count else { throw TelemetryError(.invalidField, "batch payload truncated at byte \(offset)") }
        guard let string = String(validating: bytes[offset..<(offset + count)], as: UTF8.self) else {
            throw TelemetryError(.invalidUTF8, "batch carries a name that is not valid UTF-8 at byte \(offset)")
        }
        offset += count
        return string
    }
}
