import Logging
import Supervision
import Synchronization
import Testing

@Suite("Supervisor (runtime)")
struct SupervisorTests {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func add() { value.add(1, ordering: .relaxed) }
        var count: Int { value.load(ordering: .relaxed) }
    }

    struct Boom: Error {}

    @Test("a child that throws is restarted until it finishes; onFinished runs once; maintenance children are cancelled when the stages end")
    func restartsThenFinishes() async throws {
        let supervisor = Supervisor(policy: RestartPolicy(initialBackoffMillis: 1, maxBackoffMillis: 4, maxRestarts: 10, periodMillis: 60_000),
                                    logger: Logger(label: "test"))
        let runs = Counter(), stageFinished = Counter(), maintenanceFinished = Counter()
        try await supervisor.run([
            .init(name: "stage", restart: .transient, onFinished: { stageFinished.add() }) {
                runs.add()
                if runs.count <= 2 { throw Boom() }
            },
            .init(name: "upkeep", role: .maintenance, onFinished: { maintenanceFinished.add() }) {
                while true { try await Task.sleep(for: .milliseconds(5)) }
            },
        ])
        #expect(runs.count == 3)
        #expect(stageFinished.count == 1)
        #expect(maintenanceFinished.count == 1)
        let children = supervisor.children
        #expect(children.map(\.name) == ["stage", "upkeep"])
        #expect(children[0].restarts == 2 && children[0].state == .stopped && children[0].lastError?.contains("Boom") == true)
        #expect(children[1].restarts == 0 && children[1].state == .stopped)
    }

    @Test("past the intensity limit run() throws SupervisorEscalation and the other children are cancelled")
    func escalates() async throws {
        let supervisor = Supervisor(policy: RestartPolicy(initialBackoffMillis: 1, maxBackoffMillis: 1, maxRestarts: 2, periodMillis: 60_000),
                                    logger: Logger(label: "test"))
        let otherFinished = Counter()
        await #expect(throws: SupervisorEscalation.self) {
            try await supervisor.run([
                .init(name: "bad") { throw Boom() },
                .init(name: "other", onFinished: { otherFinished.add() }) {
                    while true { try await Task.sleep(for: .milliseconds(5)) }
                },
            ])
        }
        #expect(otherFinished.count == 1)
        #expect(supervisor.children.first { $0.name == "bad" }?.state == .failed)
        #expect(supervisor.children.first { $0.name == "bad" }?.restarts == 2)
    }
}
