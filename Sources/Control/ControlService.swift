import Hummingbird
import ServiceLifecycle

/// The control socket's HTTP server plus the once-a-second sampler that feeds the status rates,
/// run together as one service of the daemon's group.
struct ControlService<App: ApplicationProtocol>: Service {
    let application: App
    let sample: @Sendable () -> Void

    init(application: App, sample: @escaping @Sendable () -> Void) {
        self.application = application
        self.sample = sample
    }

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.run() }
            group.addTask {
                // Ends quietly at graceful shutdown; the server finishes on its own.
                try? await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        sample()
                        try await Task.sleep(for: .seconds(1))
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
