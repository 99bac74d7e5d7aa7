import Processor
import TelemetryCore
import Testing

@Suite("Partition planner")
struct PartitionPlannerTests {
    let today = Timestamp.dayNumber(micros: Timestamp.parseRFC3339("2025-12-26T10:30:00Z")!)

    @Test("names round-trip and are UTC days")
    func names() {
        #expect(PartitionPlanner.name(day: today) == "samples_p20251226")
        #expect(PartitionPlanner.day(of: "samples_p20251226") == today)
        #expect(PartitionPlanner.date(day: today) == "2025-12-26")
        #expect(PartitionPlanner.day(of: "samples_staging") == nil)
    }

    @Test("creates today and the days ahead that are missing, drops days past retention")
    func plan() {
        let existing = [today - 31, today - 30, today - 1, today, today + 1].map(PartitionPlanner.name(day:))
        let plan = PartitionPlanner.plan(today: today, aheadDays: 3, retentionDays: 30, existing: existing + ["other"])
        #expect(plan.create == [today + 2, today + 3])
        #expect(plan.drop == [PartitionPlanner.name(day: today - 31)])
    }
}
