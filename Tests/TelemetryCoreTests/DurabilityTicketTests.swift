import TelemetryCore
import Testing

@Suite("Durability ticket")
struct DurabilityTicketTests {
    @Test("A ticket is durable once every batch is, fails at the first expiry, and ignores what comes after")
    func ticket() async {
        let ticket = DurabilityTicket(batches: 2)
        ticket.batchDurable()
        #expect(ticket.outcome == nil)
        async let outcome = ticket.wait()
        ticket.batchDurable()
        #expect(await outcome == .durable)
        ticket.expire("late")
        #expect(ticket.outcome == .durable)
        let failing = DurabilityTicket(batches: 3)
        failing.batchDurable()
        failing.expire("the hub is stopping")
        failing.batchDurable()
        failing.batchDurable()
        #expect(await failing.wait() == .failed("the hub is stopping"))
    }
}
