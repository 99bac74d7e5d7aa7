import TelemetryCore

/// The digest recorded with each idempotency key (`ingested_batches.digest`): FNV-1a-64 of an
/// input's whole content, so a redelivery (same content) is told from an id reused for other
/// content (`duplicate_id`).
enum ContentDigest {
    /// A hub batch: its encoded bytes but the flags byte (whether a client was told it is durable
    /// does not change what it holds). Replays from the spool carry the same bytes.
    static func hubBatch(_ bytes: [UInt8]) -> Int64 {
        Int64(bitPattern: FNV1a.hash64(bytes: bytes.dropFirst(4), continuing: FNV1a.hash64(bytes: bytes.prefix(3))))
    }

    /// A seed task: its type, device, time and every numeric field (sorted by name), so the same
    /// task re-sent with its keys in another order or other spacing is the same content.
    static func task(_ task: TelemetryTask) -> Int64 {
        var text = "\(task.kind.rawValue)\u{0}\(task.deviceID)\u{0}\(task.timestampMicros)"
        for metric in task.metrics { text += "\u{0}\(metric.name)=\(metric.value.bitPattern)" }
        return Int64(bitPattern: FNV1a.hash64(text))
    }
}
