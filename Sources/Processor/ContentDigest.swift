import TelemetryCore

/// The digest recorded with each idempotency key (`ingested_batches.digest`): FNV-1a-64 of an
/// input's whole content, so a redelivery (same content) is told from an id reused for other
/// content (`duplicate_id`).
enum ContentDigest {
    /// A hub batch: its encoded bytes but the flags byte (whether a client was told it is durable
    /// does not change what it holds). Replays from the spool carry the same bytes.
    static func hubBatch(_ bytes: [UInt8]) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (index, byte) in bytes.enumerated() where index != 3 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    /// A seed task: its type, device, time and every numeric field (sorted by name), so the same
    /// task re-sent with its keys in another order or other spacing is the same content.
    static func task(_ task: TelemetryTask) -> Int64 {
        var text = "\(task.kind.rawValue)\u{0}\(task.deviceID)\u{0}\(task.timestampMicros)"
        for metric in task.metrics { text += "\u{0}\(metric.name)=\(metric.value.bitPattern)" }
        return Int64(bitPattern: FNV1a.hash64(text))
    }
}
