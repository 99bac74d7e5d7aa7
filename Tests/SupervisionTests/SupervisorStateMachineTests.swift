import Supervision
import Testing

@Suite("Supervisor state machine")
struct SupervisorStateMachineTests {
    let policy = RestartPolicy(initialBackoffMillis: 100, maxBackoffMillis: 1000, maxRestarts: 3, periodMillis: 10_000)

    func machine(_ children: [(String, ChildRestart)] = [("worker", .permanent)]) -> SupervisorStateMachine {
        var m = SupervisorStateMachine(policy: policy)
        for (name, restart) in children { m.add(name, restart: restart) }
        return m
    }

    @Test("a throwing child is restarted with exponential backoff, capped")
    func backoff() {
        let policy = RestartPolicy(initialBackoffMillis: 100, maxBackoffMillis: 1000, maxRestarts: 100, periodMillis: 10_000)
        var m = SupervisorStateMachine(policy: policy)
        m.add("worker", restart: .permanent)
        var delays: [Int64] = []
        var now: Int64 = 0
        for _ in 0..<6 {
            m.started("worker", nowMillis: now)
            now += 10
            guard case .restart(let after) = m.exited("worker", exit: .threw("boom"), nowMillis: now) else {
                Issue.record("expected a restart"); return
            }
            delays.append(after)
            now += after
        }
        #expect(delays == [100, 200, 400, 800, 1000, 1000])
        #expect(m.children[0].restarts == 6)
        #expect(m.children[0].lastError == "boom")
        #expect(m.children[0].state == .backingOff)
    }

    @Test("a child that ran longer than the period starts again from the initial backoff")
    func backoffResets() {
        var m = machine()
        m.started("worker", nowMillis: 0)
        #expect(m.exited("worker", exit: .threw("a"), nowMillis: 5) == .restart(afterMillis: 100))
        m.started("worker", nowMillis: 105)
        #expect(m.exited("worker", exit: .threw("b"), nowMillis: 110) == .restart(afterMillis: 200))
        m.started("worker", nowMillis: 310)
        #expect(m.exited("worker", exit: .threw("c"), nowMillis: 310 + 20_000) == .restart(afterMillis: 100))
    }

    @Test("more than maxRestarts within the period escalates; restarts spread out do not")
    func intensity() {
        var m = machine([("a", .permanent), ("b", .permanent)])
        m.started("a", nowMillis: 0)
        m.started("b", nowMillis: 0)
        #expect(m.exited("a", exit: .threw("x"), nowMillis: 1) == .restart(afterMillis: 100))
        #expect(m.exited("b", exit: .threw("y"), nowMillis: 2) == .restart(afterMillis: 100))
        #expect(m.exited("a", exit: .threw("x"), nowMillis: 200) == .restart(afterMillis: 200))
        guard case .escalate(let reason) = m.exited("b", exit: .threw("y"), nowMillis: 300) else {
            Issue.record("expected escalation"); return
        }
        #expect(reason.contains("b: y"))
        #expect(m.children[1].state == .failed)

        var spread = machine()
        var now: Int64 = 0
        for _ in 0..<10 {
            spread.started("worker", nowMillis: now)
            now += 4_000
            guard case .restart = spread.exited("worker", exit: .threw("slow"), nowMillis: now) else {
                Issue.record("three restarts per ten seconds should not escalate"); return
            }
        }
    }

    @Test("a permanent child that returns before shutdown is restarted; after shutdown, or transient, it is finished")
    func normalReturn() {
        var m = machine([("consumer", .permanent), ("bus", .transient)])
        m.started("consumer", nowMillis: 0)
        m.started("bus", nowMillis: 0)
        #expect(m.exited("consumer", exit: .returned, nowMillis: 10) == .restart(afterMillis: 100))
        #expect(m.children[0].lastError == "stopped unexpectedly")
        #expect(m.exited("bus", exit: .returned, nowMillis: 10) == .finished)
        #expect(m.children[1].state == .stopped)
        #expect(m.children[1].restarts == 0)
        m.started("consumer", nowMillis: 110)
        m.beginShutdown()
        #expect(m.exited("consumer", exit: .returned, nowMillis: 120) == .finished)
        #expect(m.children[0].state == .stopped)
    }

    @Test("during shutdown a throwing child is still restarted so it can drain; cancellation finishes it")
    func shutdown() {
        var m = machine()
        m.started("worker", nowMillis: 0)
        m.beginShutdown()
        #expect(m.exited("worker", exit: .threw("x"), nowMillis: 1) == .restart(afterMillis: 100))
        m.started("worker", nowMillis: 101)
        #expect(m.exited("worker", exit: .cancelled, nowMillis: 102) == .finished)
        #expect(m.children[0].state == .stopped)
    }
}
