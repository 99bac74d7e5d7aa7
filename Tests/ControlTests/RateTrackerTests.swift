import Control
import Testing

@Suite("Rate tracker")
struct RateTrackerTests {
    @Test("rates over the window, from its oldest to its newest observation; none before two observations")
    func window() {
        let tracker = RateTracker(windowSeconds: 10)
        #expect(tracker.rates.isEmpty)
        tracker.observe(["read": 0], at: 100)
        #expect(tracker.rates.isEmpty)
        tracker.observe(["read": 50], at: 105)
        #expect(tracker.rates["read"] == 10)
        for second in 106...130 { tracker.observe(["read": 50 + (second - 105) * 20], at: Double(second)) }
        #expect(tracker.rates["read"] == 20, "old observations leave the window")
    }

    @Test("a counter that appears later counts from zero; formatting has one decimal")
    func edges() {
        let tracker = RateTracker(windowSeconds: 10)
        tracker.observe(["a": 1], at: 0)
        tracker.observe(["a": 1, "b": 30], at: 3)
        #expect(tracker.rates["a"] == 0 && tracker.rates["b"] == 10)
        #expect(RateTracker.format(nil) == "0.0" && RateTracker.format(12.345) == "12.3")
    }
}
