import Control
import Foundation
import Gzip
import Hummingbird
import Logging
import NIOCore
import Synchronization
import TelemetryConfiguration
import TelemetryCore

/// `POST /v1/samples` and `POST /v1/tasks` (Docs/http-ingest.md). Every answer other than 202 has
/// a JSON body saying why; none of them is a crash.
///
/// | status | when |
/// |---|---|
/// | 202 | every sample is durable (in Redis, or fsync'd in the spool) |
/// | 400 | some lines (or all) are invalid: `{"error": "rejected", "accepted": n, "rejected": [{"line": k, "reason": …}]}`; the valid ones are durable |
/// | 401 | a bearer token is configured and the request does not carry it (checked first) |
/// | 403 | the hub listens on a non-loopback address without a token: ingest is refused; or a tenant's token posts a seed-format task (those belong to the default tenant) |
/// | 408 | the body did not arrive within `http.ingest.body_timeout_ms` |
/// | 413 | the body, as sent or decompressed, is over `http.ingest.max_body_bytes` |
/// | 415 | a `Content-Encoding` other than gzip |
/// | 429 | the hub is applying backpressure (its buffer is full); `Retry-After` says when to retry |
/// | 503 | the hub is starting or stopping, Redis is unreachable for a task, or durability was not confirmed in time |
enum IngestRoutes {
    /// The ingest routes.
    static let routes = [HTTPEndpoints.Route(.post, "/v1/samples"), HTTPEndpoints.Route(.post, "/v1/tasks")]

    /// Adds the ingest routes to `router` and returns them.
    static func register(on router: Router<BasicRequestContext>, hub: HubService, configuration: HTTPIngestConfiguration, host: String,
                         logger: Logger) -> [HTTPEndpoints.Route] {
        guard configuration.servesIngest(on: host) else {
            logger.error("ingest routes refused: the hub listens on a non-loopback address without a token",
                         metadata: ["http_host": "\(host)", "fix": "set http.ingest.token (or token_file), or http.ingest.allow_unauthenticated: true"])
            let refused: @Sendable (Request, BasicRequestContext) async -> Response = { _, _ in
                json(.forbidden, ["error": "unauthenticated_ingest_disabled",
                                  "message": "this hub listens on \(host) without http.ingest.token; ingest is refused until a token is configured"])
            }
            router.post("v1/samples", use: refused)
            router.post("v1/tasks", use: refused)
            router.post("write", use: refused)
            router.post("api/v2/write", use: refused)
            return routes + LineProtocolRoutes.routes
        }
        if !configuration.tenants.hasTokens && configuration.token == nil && !HTTPIngestConfiguration.isLoopback(host) {
            logger.warning("ingest is served without authentication on a non-loopback address (http.ingest.allow_unauthenticated)",
                           metadata: ["http_host": "\(host)"])
        }
        let workers = RequestWorkerPool(count: configuration.parseThreads)
        let inFlight = InFlight()
        func limited(_ route: String, _ handle: @escaping @Sendable (Request, String?) async -> Response) -> @Sendable (Request, BasicRequestContext) async -> Response {
            Self.limited(route, hub: hub, configuration: configuration, inFlight: inFlight, authenticate: {
                configuration.authenticate($0.headers[.authorization], host: host)
            }, unauthorized: {
                var response = json(.unauthorized, ["error": "unauthorized", "message": "this endpoint needs Authorization: Bearer <token>"])
                response.headers[.wwwAuthenticate] = #"Bearer realm="telemetry-hub""#
                return response
            }, busy: {
                json(.tooManyRequests, ["error": "busy", "message": "too many requests in flight; retry later"], retryAfter: configuration.retryAfterSeconds)
            }, handle)
        }
        router.post("v1/samples", use: limited("/v1/samples") { await samples($0, tenant: $1, hub: hub, worker: workers.next(), configuration: configuration) })
        router.post("v1/tasks", use: limited("/v1/tasks") { request, tenant in
            guard let tenant else { return await task(request, hub: hub, worker: workers.next(), configuration: configuration) }
            return json(.forbidden, ["error": "tenant_not_supported",
                                     "message": "seed-format tasks belong to the default tenant; tenant \(tenant) posts samples to /v1/samples"])
        })
        LineProtocolRoutes.register(on: router, hub: hub, configuration: configuration, host: host, workers: workers, inFlight: inFlight)
        return routes + LineProtocolRoutes.routes
    }

    /// Requests in flight across every ingest route.
    final class InFlight: Sendable {
        let count = Atomic<Int>(0)
    }

    /// Wraps `handle` in the checks every ingest route makes first. Each request in flight holds its
    /// body (and an inflated copy) until it is answered: past `max_concurrent_requests` a request is
    /// turned away before its body is read. A request without the token is answered 401 before
    /// anything else, so it learns nothing of the hub's load. The token names the tenant the request
    /// acts for (nil: the default tenant).
    static func limited(_ route: String, hub: HubService, configuration: HTTPIngestConfiguration, inFlight: InFlight,
                        authenticate: @escaping @Sendable (Request) -> TenantDirectory.Authentication,
                        unauthorized: @escaping @Sendable () -> Response, busy: @escaping @Sendable () -> Response,
                        _ handle: @escaping @Sendable (Request, String?) async -> Response) -> @Sendable (Request, BasicRequestContext) async -> Response {
        let counters = hub.counters
        return { request, _ in
            var response: Response
            let authentication = authenticate(request)
            if case .tenant(let tenant) = authentication, inFlight.count.add(1, ordering: .relaxed).newValue <= configuration.maxConcurrentRequests {
                response = await handle(request, tenant)
                inFlight.count.subtract(1, ordering: .relaxed)
            } else if authentication == .unauthorized {
                response = unauthorized()
            } else {
                response = busy()
                inFlight.count.subtract(1, ordering: .relaxed)
            }
            counters.countResponse(route: route, status: Int(response.status.code))
            return response
        }
    }

    private static func samples(_ request: Request, tenant: String?, hub: HubService, worker: RequestWorker, configuration: HTTPIngestConfiguration) async -> Response {
        let body: [UInt8]
        switch await readBody(request, worker: worker, configuration: configuration, limit: configuration.maxBodyBytes) {
        case .failure(let response): return response
        case .success(let bytes): body = bytes
        }
        switch await hub.ingest(body, tenant: tenant, worker: worker, ackTimeout: .milliseconds(configuration.ackTimeoutMillis)) {
        case .durable(let document, let token) where document.rejectedCount == 0:
            var response = json(.accepted, ["accepted": document.readings.count, "values": document.values])
            response.headers[ingestToken] = token.description
            return response
        case .durable(let document, let token):
            var response = json(.badRequest, partial(document))
            response.headers[ingestToken] = token.description
            return response
        case .invalid(let document):
            return json(.badRequest, partial(document))
        case .busy:
            return json(.tooManyRequests, ["error": "busy", "message": "the hub is applying backpressure; retry later"],
                        retryAfter: configuration.retryAfterSeconds)
        case .tooLarge(let message):
            return json(.contentTooLarge, ["error": "too_large", "message": message])
        case .unavailable(let reason):
            return json(.serviceUnavailable, ["error": "unavailable", "message": reason], retryAfter: configuration.retryAfterSeconds)
        }
    }

    /// `X-Ingest-Token`: the batches of an answered `POST /v1/samples`, for session reads.
    static let ingestToken = HTTPFields.Element.Name("X-Ingest-Token")!

    /// The 400 body of a request with rejected lines: the report, and what was accepted.
    private static func partial(_ document: SampleDocument) -> [String: Any] {
        var answer = rejections(document)
        answer["accepted"] = document.readings.count
        answer["values"] = document.values
        return answer
    }

    private static func task(_ request: Request, hub: HubService, worker: RequestWorker, configuration: HTTPIngestConfiguration) async -> Response {
        let body: [UInt8]
        switch await readBody(request, worker: worker, configuration: configuration,
                              limit: min(configuration.maxBodyBytes, TelemetryTaskCodec.defaultMaxBytes)) {
        case .failure(let response): return response
        case .success(let bytes): body = bytes
        }
        do {
            let task = try await hub.submitTask(body, worker: worker)
            return json(.accepted, ["id": task.id])
        } catch let error as TelemetryError {
            return json(.badRequest, ["error": error.code.description, "message": error.message])
        } catch {
            return json(.serviceUnavailable, ["error": "redis_unavailable", "message": "\(error)"], retryAfter: configuration.retryAfterSeconds)
        }
    }

    private enum BodyResult {
        case success([UInt8])
        case failure(Response)
    }

    /// Why a body could not be read: rendered as JSON by each family of routes in its own shape.
    struct BodyFailure: Error {
        /// The answer's status.
        var status: HTTPResponse.Status
        /// `too_large`, `timeout`, `bad_body`, `bad_encoding`, `unsupported_encoding`.
        var code: String
        /// What happened, for the client.
        var message: String
        /// The size limit, for `too_large`.
        var limit: Int?
    }

    private static func readBody(_ request: Request, worker: RequestWorker, configuration: HTTPIngestConfiguration, limit: Int) async -> BodyResult {
        switch await body(request, worker: worker, configuration: configuration, limit: limit) {
        case .success(let bytes): return .success(bytes)
        case .failure(let failure):
            var object: [String: Any] = ["error": failure.code, "message": failure.message]
            if let limit = failure.limit { object["limit"] = limit }
            return .failure(json(failure.status, object))
        }
    }

    /// Reads the body (of an authorized request) within the size and time limits and inflates it.
    static func body(_ request: Request, worker: RequestWorker, configuration: HTTPIngestConfiguration, limit: Int) async -> Result<[UInt8], BodyFailure> {
        // An empty header is no encoding at all.
        var encoding = request.headers[.contentEncoding]?.lowercased().trimmingCharacters(in: .whitespaces) ?? ""
        if encoding.isEmpty { encoding = "identity" }
        guard ["identity", "gzip", "x-gzip"].contains(encoding) else {
            return .failure(BodyFailure(status: .unsupportedMediaType, code: "unsupported_encoding", message: "Content-Encoding \(encoding) is not supported (gzip is)"))
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { return .failure(tooLarge(limit)) }
        let collected: ByteBuffer
        switch await collect(request.body, limit: limit, timeout: .milliseconds(configuration.bodyTimeoutMillis)) {
        case .body(let buffer): collected = buffer
        case .tooLarge: return .failure(tooLarge(limit))
        case .timedOut:
            return .failure(BodyFailure(status: .requestTimeout, code: "timeout", message: "the body did not arrive within \(configuration.bodyTimeoutMillis) ms"))
        case .failed(let message):
            return .failure(BodyFailure(status: .badRequest, code: "bad_body", message: message))
        }
        guard encoding != "identity" else { return .success(Array(buffer: collected)) }
        switch await worker.run({ inflate(collected, limit: limit) }) {
        case .bytes(let bytes): return .success(bytes)
        case .tooLarge:
            return .failure(tooLarge(limit, " once decompressed"))
        case .invalid(let message):
            return .failure(BodyFailure(status: .badRequest, code: "bad_encoding", message: message))
        }
    }

    private static func tooLarge(_ limit: Int, _ how: String = "") -> BodyFailure {
        BodyFailure(status: .contentTooLarge, code: "too_large", message: "the body is over \(limit) bytes\(how)", limit: limit)
    }

    private enum Inflated: Sendable {
        case bytes([UInt8])
        case tooLarge
        case invalid(String)
    }

    /// Inflates a whole gzip body (every member, trailers checked) up to `limit` bytes.
    private static func inflate(_ compressed: ByteBuffer, limit: Int) -> Inflated {
        do throws(Gzip.Failure) {
            return .bytes(try Gzip.inflate(compressed.readableBytesView, limit: limit))
        } catch .tooLarge {
            return .tooLarge
        } catch {
            return .invalid(error.description)
        }
    }

    private enum Collected: Sendable {
        case body(ByteBuffer)
        case tooLarge
        case timedOut
        case failed(String)
    }

    /// The body, unless it is over `limit` or still incomplete after `timeout` (a client trickling it).
    private static func collect(_ body: RequestBody, limit: Int, timeout: Duration) async -> Collected {
        await withTaskGroup(of: Collected.self) { group in
            group.addTask {
                var buffer = ByteBuffer()
                do {
                    for try await var chunk in body {
                        guard buffer.readableBytes + chunk.readableBytes <= limit else { return .tooLarge }
                        buffer.writeBuffer(&chunk)
                    }
                } catch {
                    return Task.isCancelled ? .timedOut : .failed("the body could not be read: \(error)")
                }
                return .body(buffer)
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return .timedOut
            }
            let first = await group.next() ?? .timedOut
            group.cancelAll()
            return first
        }
    }

    private static func rejections(_ document: SampleDocument) -> [String: Any] {
        let listed = document.rejected.map { rejection -> [String: Any] in
            ["line": rejection.line, "reason": rejection.reason, "message": rejection.message]
        }
        // `error` and `message` as in every other error body, beside the per-line report.
        return ["error": "rejected", "message": "\(document.rejectedCount) line(s) rejected; the \(document.readings.count) valid reading(s) are durable",
                "rejected": listed, "rejected_count": document.rejectedCount]
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any], retryAfter: Int? = nil) -> Response {
        var response = HTTPEndpoints.jsonResponse(status, object)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}
