import TelemetryCore
import Testing

@Suite("FNV-1a and shard routing")
struct FNV1aTests {
    @Test("FNV-1a 64 matches the reference vectors")
    func fnv() {
        #expect(FNV1a.hash64("") == 0xcbf2_9ce4_8422_2325)
        #expect(FNV1a.hash64("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(FNV1a.hash64("foobar") == 0x8594_4171_f739_67e8)
        #expect(ShardRouter(shards: 8).shard(of: "foobar") == Int(UInt64(0x8594_4171_f739_67e8) % 8))
    }
}
