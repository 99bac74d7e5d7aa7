/// One entry of a shard stream (`telemetry:stream:<n>`, Docs/architecture.md): the hub writes it with
/// `XADD`, the processor reads it with `XREADGROUP`, `telemetryctl dlq replay` writes it again.
/// The one definition of its fields for every side.
///
/// | field | value |
/// |---|---|
/// | `v` | the hub batch format version (decimal) |
/// | `id` | the batch id (for people reading the stream; the batch carries it too) |
/// | `d` | the encoded hub batch (``HubBatchCodec``) |
public struct StreamEntry: Sendable, Equatable {
    /// The field name of the batch format version.
    public static let versionField = "v"
    /// The field name of the batch id.
    public static let idField = "id"
    /// The field name of the encoded batch.
    public static let dataField = "d"

    /// `v` as written (a decimal version); nil when absent.
    public var version: String?
    /// `id`; nil when absent (older hubs, replays).
    public var batchID: String?
    /// `d`; nil when absent (the entry is then dead-lettered as `missing_field`).
    public var data: [UInt8]?

    /// An entry of the given fields; a nil one is left out of ``fields``.
    public init(version: String?, batchID: String?, data: [UInt8]?) {
        self.version = version
        self.batchID = batchID
        self.data = data
    }

    /// The entry of an encoded batch.
    public init(_ batch: EncodedBatch) {
        self.init(version: String(batch.version), batchID: batch.id, data: batch.bytes)
    }

    /// Reads an entry's field list (name, value, name, value, …); unknown fields are ignored, the
    /// last of a repeated field wins, an odd trailing name is ignored.
    public init(fields: [(name: String?, value: [UInt8]?)]) {
        for (name, value) in fields {
            switch name {
            case Self.versionField: version = value.map { String(decoding: $0, as: UTF8.self) }
            case Self.idField: batchID = value.map { String(decoding: $0, as: UTF8.self) }
            case Self.dataField: data = value
            default: break
            }
        }
    }

    /// The field list to write after `XADD key *`: `v`, `id` when known, then `d`.
    public var fields: [(name: String, value: [UInt8])] {
        var fields: [(name: String, value: [UInt8])] = []
        if let version { fields.append((Self.versionField, Array(version.utf8))) }
        if let batchID { fields.append((Self.idField, Array(batchID.utf8))) }
        if let data { fields.append((Self.dataField, data)) }
        return fields
    }
}
