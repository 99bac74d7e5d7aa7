import Hub
import TelemetryCore
import Testing

/// The publisher's decisions, without Redis or a disk: each test plays the actor's part.
@Suite("Publisher state machine")
struct PublisherStateMachineTests {
    static func machine(spooled: Int = 0, policy: BufferFullPolicy = .block) -> PublisherStateMachine {
        PublisherStateMachine(breaker: CircuitBreaker(probeIntervalMillis: 500, maxProbeIntervalMillis: 5000), spooled: spooled,
                              spoolFullPolicy: policy)
    }

    @Test("direct while Redis answers; a failed send opens the breaker and its batches are spooled, then new ones go to the spool too")
    func outage() {
        var m = Self.machine()
        #expect(m.next(nowMillis: 0, bufferFinishedAndEmpty: false) == .publishFromBuffer)
        m.published(ok: true, batches: 4, nowMillis: 0)
        #expect(m.next(nowMillis: 1, bufferFinishedAndEmpty: false) == .publishFromBuffer)
        m.published(ok: false, batches: 3, nowMillis: 1)
        #expect(m.pending == 3 && m.breaker.state == .open(retryAtMillis: 501))
        #expect(m.next(nowMillis: 2, bufferFinishedAndEmpty: false) == .spoolPending)
        m.spooledPending()
        #expect(m.spooled == 3 && m.pending == 0)
        #expect(m.next(nowMillis: 2, bufferFinishedAndEmpty: false) == .takeFromBuffer)
        m.took(2)
        #expect(m.next(nowMillis: 2, bufferFinishedAndEmpty: false) == .spoolPending, "new batches follow the spooled ones, in order")
        m.spooledPending()
        // The probe is not due: a round without progress sleeps.
        #expect(m.next(nowMillis: 3, bufferFinishedAndEmpty: false) == .takeFromBuffer)
        m.took(0)
        #expect(m.next(nowMillis: 3, bufferFinishedAndEmpty: false) == .sleep(.milliseconds(5)))
        #expect(m.spooled == 5)
    }

    @Test("Redis back: the spool is replayed oldest first once the probe is due, then publishing is direct again")
    func replay() {
        var m = Self.machine(spooled: 2)
        m.published(ok: false, batches: 0, nowMillis: 0)  // the breaker opened at 0
        #expect(m.next(nowMillis: 100, bufferFinishedAndEmpty: false) == .takeFromBuffer)
        m.took(0)
        #expect(m.next(nowMillis: 100, bufferFinishedAndEmpty: false) == .sleep(.milliseconds(5)))
        #expect(m.next(nowMillis: 600, bufferFinishedAndEmpty: false) == .takeFromBuffer)
        m.took(0)
        #expect(m.next(nowMillis: 600, bufferFinishedAndEmpty: false) == .replay)
        #expect(m.breaker.state == .halfOpen)
        m.replayed(.sent(records: 2), nowMillis: 600)
        #expect(m.spooled == 0 && m.breaker.state == .closed)
        #expect(m.next(nowMillis: 601, bufferFinishedAndEmpty: false) == .publishFromBuffer)
    }

    @Test("a failed probe opens the breaker again with the interval doubled; an unreadable spool changes nothing")
    func failedProbe() {
        var m = Self.machine(spooled: 1)
        m.published(ok: false, batches: 0, nowMillis: 0)
        _ = m.next(nowMillis: 500, bufferFinishedAndEmpty: false)
        m.took(0)
        #expect(m.next(nowMillis: 500, bufferFinishedAndEmpty: false) == .replay)
        m.replayed(.sendFailed, nowMillis: 500)
        #expect(m.breaker.state == .open(retryAtMillis: 1500) && m.spooled == 1)
        m.replayed(.readFailed, nowMillis: 600)
        #expect(m.breaker.state == .open(retryAtMillis: 1500) && m.spooled == 1)
    }

    @Test("stopping: finish with what is left spooled while Redis is away; with Redis back, replay the spool first")
    func finishing() {
        var away = Self.machine(spooled: 4)
        away.published(ok: false, batches: 0, nowMillis: 0)
        #expect(away.next(nowMillis: 1, bufferFinishedAndEmpty: true) == .takeFromBuffer)
        away.took(0)
        #expect(away.next(nowMillis: 1, bufferFinishedAndEmpty: true) == .finish(spooledLeft: 4))
        #expect(away.next(nowMillis: 2, bufferFinishedAndEmpty: true) == .finish(spooledLeft: 4))

        var back = Self.machine(spooled: 2)  // breaker closed: replay before finishing
        #expect(back.next(nowMillis: 1, bufferFinishedAndEmpty: true) == .takeFromBuffer)
        back.took(0)
        #expect(back.next(nowMillis: 1, bufferFinishedAndEmpty: true) == .replay)
        back.replayed(.sent(records: 2), nowMillis: 1)
        #expect(back.next(nowMillis: 1, bufferFinishedAndEmpty: true) == .finish(spooledLeft: 0))
    }

    @Test("a pending batch the spool has no room for is never lost: the round goes on to replay, and finishing waits for it")
    func spoolFull() {
        var m = Self.machine(spooled: 3)
        m.published(ok: false, batches: 2, nowMillis: 0)
        #expect(m.next(nowMillis: 1, bufferFinishedAndEmpty: true) == .spoolPending)
        // no room: spooledPending() is not reported
        #expect(m.next(nowMillis: 1, bufferFinishedAndEmpty: true) == .sleep(.milliseconds(5)), "no take while a batch is pending; no finish either")
        #expect(m.pending == 2)
        #expect(m.next(nowMillis: 600, bufferFinishedAndEmpty: true) == .spoolPending)
        #expect(m.next(nowMillis: 600, bufferFinishedAndEmpty: true) == .replay)
    }

    @Test("drop_oldest drops only records never acknowledged to a client, and only from a spool with records; block never drops")
    func dropOldest() {
        var m = Self.machine(spooled: 2, policy: .dropOldest)
        #expect(m.mayDropOldest)
        #expect(!m.dropsOldest(acknowledged: true))
        #expect(m.dropsOldest(acknowledged: false))
        m.droppedOldest()
        m.droppedOldest()
        #expect(m.spooled == 0 && !m.mayDropOldest && !m.dropsOldest(acknowledged: false))
        let block = Self.machine(spooled: 5, policy: .block)
        #expect(!block.mayDropOldest && !block.dropsOldest(acknowledged: false))
    }

    @Test("a replay Redis took closes the breaker even when the spool then fails to drop the records; they stay counted")
    func replaySentThenConsumeFailed() {
        var m = Self.machine(spooled: 3)
        m.published(ok: false, batches: 0, nowMillis: 0)
        _ = m.next(nowMillis: 500, bufferFinishedAndEmpty: false)
        m.took(0)
        #expect(m.next(nowMillis: 500, bufferFinishedAndEmpty: false) == .replay)
        m.replaySent()
        m.replayed(.readFailed, nowMillis: 500)  // the consume threw
        #expect(m.breaker.state == .closed && m.spooled == 3)
        // Redis is back and the records are still spooled: not finished, replay again.
        #expect(m.next(nowMillis: 501, bufferFinishedAndEmpty: true) == .sleep(.milliseconds(5)))
        #expect(m.next(nowMillis: 502, bufferFinishedAndEmpty: true) == .takeFromBuffer)
        m.took(0)
        #expect(m.next(nowMillis: 502, bufferFinishedAndEmpty: true) == .replay)
        m.replaySent()
        m.replayConsumed(3)
        #expect(m.next(nowMillis: 503, bufferFinishedAndEmpty: true) == .finish(spooledLeft: 0))
    }

    @Test("after a spool operation failed half-way the machine takes the spool's own count: an empty spool lets publishing go direct again")
    func resync() {
        var m = Self.machine(spooled: 4)
        m.resync(spooled: 0)
        #expect(m.spooled == 0 && m.isDirect)
        #expect(m.next(nowMillis: 0, bufferFinishedAndEmpty: false) == .publishFromBuffer)
        m.resync(spooled: -3)
        #expect(m.spooled == 0)
    }
}
