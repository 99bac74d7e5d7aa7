public import Configuration
import Foundation
public import Hummingbird
public import Logging
import NIOCore
import TelemetryConfiguration

/// What `/ready` reports: whether the service can do its work, and why not.
public struct Readiness: Sendable {
    /// True when the service can do its work: `/ready` answers 200, else 503.
    public var ready: Bool
    /// Dependency name → state, e.g. `["redis": "reachable", "postgres": "unreachable"]`.
    public var checks: [String: String]

    /// A readiness of `ready`, with each dependency's state in `checks`.
    public init(ready: Bool, checks: [String: String]) {
        self.ready = ready
        self.checks = checks
    }
}

/// Where the HTTP endpoints listen: `http.host` (`HTTP_HOST`, default 127.0.0.1) and `http.port`
/// (`HTTP_PORT`; 0 picks a free port, which is logged). `http.idle_timeout_ms` (default 30 000)
/// closes a connection that has not completed a request head (a slow-loris client trickling its
/// headers) or sat idle between requests for that long.
public struct HTTPConfiguration: Sendable {
    /// The address to listen on, `http.host` (`HTTP_HOST`), default `127.0.0.1`.
    public var host: String
    /// The TCP port, `http.port` (`HTTP_PORT`), 0...65535; 0 picks a free port, which is logged.
    public var port: Int
    /// `http.idle_timeout_ms` in milliseconds (100...3 600 000, default 30 000): how long a connection
    /// may wait for a request head or sit idle before it is closed.
    public var idleTimeoutMillis: Int

    /// Reads `host`, `port` (default `defaultPort`) and `idle_timeout_ms` from a reader scoped to
    /// `http`; throws when a value is present but unusable or out of range.
    public init(reader config: ConfigReader, defaultPort: Int) throws(ConfigurationError) {
        host = try config.strictString("host", default: "127.0.0.1")
        port = try config.strictInt("port", default: defaultPort, in: 0...65535)
        idleTimeoutMillis = try config.strictInt("idle_timeout_ms", default: 30_000, in: 100...3_600_000)
    }
}

/// `GET /health` (alive), `GET /ready` (200 or 503 with the checks as JSON) and `GET /metrics`
/// (Prometheus text), served by Hummingbird as a service of the daemon's service group.
///
/// ```swift
/// let http = HTTPEndpoints.application(configuration: http, metrics: exporter, logger: logger,
///                                      collect: { exporter in … }, readiness: { … })
/// ```
public enum HTTPEndpoints {
    /// The Hummingbird application (a service for the daemon's group) serving `/health`, `/ready`,
    /// `/metrics` and `routes` on `configuration`'s address. `collect` fills `metrics` before each
    /// scrape; `readiness` is asked at each `GET /ready`.
    public static func application(
        configuration: HTTPConfiguration,
        metrics: MetricsExporter,
        logger: Logger,
        collect: @escaping @Sendable (MetricsExporter) async -> Void,
        readiness: @escaping @Sendable () async -> Readiness,
        routes: @Sendable (Router<BasicRequestContext>) -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        routes(router)
        router.get("health") { _, _ in
            jsonResponse(.ok, ["status": "alive"])
        }
        router.get("ready") { _, _ in
            let state = await readiness()
            var body: [String: Any] = ["ready": state.ready]
            body["checks"] = state.checks
            return jsonResponse(state.ready ? .ok : .serviceUnavailable, body)
        }
        router.get("metrics") { _, _ in
            await collect(metrics)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
        }
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .milliseconds(Int64(configuration.idleTimeoutMillis)))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("http listening", metadata: ["http_port": "\(port)", "http_host": "\(configuration.host)"])
            },
            logger: logger)
    }

    /// A response with `object` as its JSON body (keys sorted).
    public static func jsonResponse(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
