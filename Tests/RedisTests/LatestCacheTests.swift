import Redis
import Testing

@Suite("Latest-value cache encoding")
struct LatestCacheTests {
    @Test("sortable times order as the numbers do, over all of Int64, and decode back")
    func sortable() {
        let values: [Int64] = [.min, -86_400_000_000, -1, 0, 1, 1_764_720_000_000_000, .max]
        let texts = values.map(LatestCache.sortable)
        #expect(texts == texts.sorted() && texts.allSatisfy { $0.count == 20 })
        #expect(texts.map { LatestCache.micros(sortable: Substring($0)) } == values)
        #expect(LatestCache.micros(sortable: "123") == nil && LatestCache.micros(sortable: "1844674407370955161x") == nil)
    }

    @Test("a hash decodes to its metrics, its write time and completeness; malformed fields are skipped")
    func decode() {
        let flat = ["temperature", LatestCache.sortable(5) + " 21.5", LatestCache.writtenField, "1700", LatestCache.filledField, "1",
                    "humidity", "garbage", "pressure", LatestCache.sortable(-3) + " -1e+308", "odd"]
        let cached = LatestCache.decode(flat)
        #expect(cached.complete && cached.writtenMillis == 1700)
        #expect(cached.entries == [LatestCache.Entry(metric: "pressure", timestampMicros: -3, value: -1e308),
                                   LatestCache.Entry(metric: "temperature", timestampMicros: 5, value: 21.5)])
        #expect(!LatestCache.decode(["temperature", LatestCache.sortable(5) + " 1"]).complete)
    }

    @Test("a merge's arguments: key, mode, time, TTL (at least 1 ms), then metric and encoded value pairs")
    func arguments() {
        let arguments = LatestCache.mergeArguments(key: "k", entries: [LatestCache.Entry(metric: "t", timestampMicros: 1, value: 0.1)],
                                                   nowMillis: 9, ttlMillis: -5, fill: true)
        #expect(arguments == ["1", "k", "f", "9", "1", "t", LatestCache.sortable(1) + " 0.1"])
    }

    @Test("jitter shortens the TTL by at most 10 % and never lengthens it")
    func jitter() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let ttl = LatestCache.jittered(120_000, using: &generator)
            #expect(ttl >= 108_000 && ttl <= 120_000)
        }
        #expect(LatestCache.jittered(5, using: &generator) == 5)
    }
}
