/// FNV-1a, 64 bit: the shard function of Docs/architecture.md (`shard = fnv1a64(device) % shards`).
///
/// ```swift
/// let shard = ShardRouter(shards: 8).shard(of: "sensor_001")
/// ```
public enum FNV1a {
    /// The FNV-1a-64 offset basis: the hash of no bytes.
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325

    /// Hashes the UTF-8 bytes of `string`.
    @inlinable
    public static func hash64(_ string: String) -> UInt64 { hash64(bytes: string.utf8) }

    /// Hashes `bytes`; with `continuing`, goes on from the hash of the bytes before them.
    @inlinable
    public static func hash64(bytes: some Sequence<UInt8>, continuing seed: UInt64 = offsetBasis) -> UInt64 {
        var hash = seed
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}

/// Maps a device id to its shard stream.
public struct ShardRouter: Sendable, Hashable {
    /// Number of shard streams (at least 1).
    public let shards: Int

    /// Creates a router over `shards` streams.
    public init(shards: Int) {
        precondition(shards > 0, "shards must be positive")
        self.shards = shards
    }

    /// The shard of `deviceID`.
    @inlinable
    public func shard(of deviceID: String) -> Int {
        Int(FNV1a.hash64(deviceID) % UInt64(shards))
    }
}
