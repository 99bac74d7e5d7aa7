import TelemetryCore
import Testing

@Suite("BucketHistogram")
struct BucketHistogramTests {
    @Test("values land in the first bucket whose bound is at least the value; +Inf takes the rest")
    func buckets() {
        let h = BucketHistogram(bounds: [0.1, 1, 10])
        h.observe(0.1)
        h.observe(0.5)
        h.observe([1, 2, 50, 0.01])
        let s = h.snapshot
        #expect(s.counts == [2, 2, 1, 1])
        #expect(s.count == 6)
        #expect(abs(s.sum - 53.61) < 1e-9)
    }

    @Test("exponential bounds")
    func exponential() {
        #expect(BucketHistogram.exponentialBounds(start: 0.5, factor: 2, count: 4) == [0.5, 1, 2, 4])
    }
}
