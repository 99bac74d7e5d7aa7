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
        routes: @Sendable (Router<BasicRequestContext>) -> [Route] = { _ in [] }
    ) -> some ApplicationProtocol {
        let router = Router(options: .autoGenerateHeadEndpoints)
        let table = RouteTable()
        // Before every route, so it wraps them all and the router's not-found answer.
        router.add(middleware: UnmatchedRouteMiddleware(table: table))
        table.routes = routes(router) + [Route(.get, "/health"), Route(.get, "/ready"), Route(.get, "/metrics")]
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

    /// A route a service adds: its method and path (`/v1/samples`).
    public struct Route: Sendable {
        /// The method it answers.
        public var method: HTTPRequest.Method
        /// The path, with its leading slash.
        public var path: String

        /// The route `method path`.
        public init(_ method: HTTPRequest.Method, _ path: String) {
            self.method = method
            self.path = path.hasPrefix("/") ? path : "/" + path
        }
    }

    /// The routes served, filled once before the server starts.
    final class RouteTable: @unchecked Sendable {
        // Written once, before the application runs; read only afterwards.
        var routes: [Route] = []

        /// The methods `path` answers (HEAD with GET), empty for an unknown path. A route's
        /// `{parameter}` segment matches any one non-empty segment.
        func methods(of path: String) -> [String] {
            let segments = path.split(separator: "/", omittingEmptySubsequences: false)
            let methods = routes.filter { route in
                let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
                return pattern.count == segments.count && zip(pattern, segments).allSatisfy { p, s in
                    p == s || (p.hasPrefix("{") && p.hasSuffix("}") && !s.isEmpty)
                }
            }.map(\.method.rawValue)
            return methods.contains("GET") ? methods + ["HEAD"] : methods
        }
    }

    /// Answers what no route matched with a JSON body: 405 with `Allow` for a known path asked
    /// with another method, else 404.
    struct UnmatchedRouteMiddleware<Context: RequestContext>: RouterMiddleware {
        let table: RouteTable

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            do {
                return try await next(request, context)
            } catch let error as HTTPError where error.status == .notFound {
                // The router ignores a trailing slash; so does this answer.
                var path = request.uri.path
                while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
                let allowed = table.methods(of: path)
                guard allowed.isEmpty else {
                    var response = jsonResponse(.methodNotAllowed, ["error": "method_not_allowed",
                                                                    "message": "\(path) answers \(allowed.joined(separator: ", ")), not \(request.method.rawValue)"])
                    response.headers[.allow] = allowed.joined(separator: ", ")
                    return response
                }
                return jsonResponse(.notFound, ["error": "not_found", "message": "no route \(path)"])
            }
        }
    }

    /// A response with `object` as its JSON body (keys sorted).
    public static func jsonResponse(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
