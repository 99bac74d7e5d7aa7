import Hummingbird
import ServiceLifecycle

/// The control socket's HTTP server plus the once-a-second sampler that feeds the status rates,
/// run together as one service of the daemon's group. A failure reported on `failures` (the socket
/// could not be restricted) ends the service with that error.
struct ControlService<App: ApplicationProtocol>: Service {
    let application: App
    let sample: @Sendable () -> Void
    let failures: AsyncStream<ControlSocketError>

    init(application: App, sample: @escaping @Sendable () -> Void, failures: AsyncStream<ControlSocketError>) {
        self.application = application
        self.sample = sample
        self.failures = failures
    }

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.run() }
            group.addTask {
                // Ends at graceful shutdown (or when the group is cancelled) unless a failure came first.
                do {
                    try await cancelWhenGracefulShutdown {
                        for await failure in failures { throw failure }
                    }
                } catch let failure as ControlSocketError {
                    throw failure
                } catch {}
            }
            group.addTask {
                // Ends quietly at graceful shutdown; the server finishes on its own.
                try? await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        sample()
                        try await Task.sleep(for: .seconds(1))
                    }
                }
            }
            // The first failure ends the service at once (the group then cancels the server);
            // waitForAll would keep serving until every task ended on its own.
            for try await _ in group {}
        }
    }
}
