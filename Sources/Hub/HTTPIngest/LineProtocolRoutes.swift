import Control
import Foundation
import Hummingbird
import NIOCore
import TelemetryConfiguration
import TelemetryCore
import TelemetryStatus

/// InfluxDB's write API on the hub's ingest port (Docs/http-ingest.md): `POST /write` (1.x),
/// `POST /api/v2/write` (2.x) and `GET /ping`, so agents that write line protocol (Telegraf,
/// firmwares, the official clients) can point at the hub.
///
/// | status | when |
/// |---|---|
/// | 204 | every point is durable (the same ticket as `/v1/samples`'s 202), or the body holds none |
/// | 400 | some lines (or all) are invalid: the valid ones are durable (InfluxDB's partial write); the body names each refused line |
/// | 401 | a token is configured and the request does not carry it (`Authorization: Token …`, `Bearer …`, Basic, or `p=`) |
/// | 413, 429, 503 | as `/v1/samples` (429 and 503 with `Retry-After`) |
///
/// Error bodies take each API's shape: 1.x `{"error": "…"}` (and `X-Influxdb-Error`), 2.x
/// `{"code": "invalid", "message": "…", "line": n}`.
enum LineProtocolRoutes {
    /// The routes.
    static let routes = [HTTPEndpoints.Route(.post, "/write"), HTTPEndpoints.Route(.post, "/api/v2/write"), HTTPEndpoints.Route(.get, "/ping")]

    /// 1.x or 2.x: the query parameters and the shape of error bodies.
    enum API: Sendable {
        case v1, v2
    }

    static func register(on router: Router<BasicRequestContext>, hub: HubService, configuration: HTTPIngestConfiguration, host: String,
                         workers: RequestWorkerPool, inFlight: IngestRoutes.InFlight) {
        for (api, path) in [(API.v1, "write"), (API.v2, "api/v2/write")] {
            let handler = IngestRoutes.limited("/\(path)", hub: hub, configuration: configuration, inFlight: inFlight, authenticate: { request in
                configuration.authenticate(credential(request).map { "Bearer \($0)" }, host: host)
            }, unauthorized: {
                var response = error(api, .unauthorized, code: "unauthorized", api == .v1 ? "authorization failed" : "unauthorized access")
                response.headers[.wwwAuthenticate] = #"Token realm="telemetry-hub""#
                return response
            }, busy: {
                error(api, .tooManyRequests, code: "too many requests", "too many requests in flight; retry later",
                      retryAfter: configuration.retryAfterSeconds)
            }) { request, tenant in
                await write(request, api: api, tenant: tenant, hub: hub, worker: workers.next(), configuration: configuration)
            }
            router.post(RouterPath(path), use: handler)
        }
        router.get("ping") { _, _ -> Response in
            Response(status: .noContent, headers: [HTTPFields.Element.Name("X-Influxdb-Build")!: "telemetry-hub",
                                                   HTTPFields.Element.Name("X-Influxdb-Version")!: "telemetry-hub \(TelemetryVersion.current)"])
        }
    }

    /// The token a request presents: `Authorization: Token t` or `Bearer t` (2.x), Basic with the
    /// token as password, or the 1.x `p` parameter (`u` is not checked); nil when none.
    static func credential(_ request: Request) -> String? {
        if let header = request.headers[.authorization]?.trimmingCharacters(in: .whitespaces), let space = header.firstIndex(of: " ") {
            let scheme = header[..<space].lowercased()
            let value = header[header.index(after: space)...].trimmingCharacters(in: .whitespaces)
            switch scheme {
            case "token", "bearer": return value
            case "basic":
                guard let data = Data(base64Encoded: value), let text = String(data: data, encoding: .utf8),
                      let colon = text.firstIndex(of: ":") else { return "" }
                return String(text[text.index(after: colon)...])
            default: return ""
            }
        }
        return request.uri.queryParameters["p"].map(String.init)
    }

    private static func write(_ request: Request, api: API, tenant: String?, hub: HubService, worker: RequestWorker,
                              configuration: HTTPIngestConfiguration) async -> Response {
        let query = request.uri.queryParameters
        let precision = query["precision"].map(String.init) ?? ""
        guard let nanosPerUnit = InfluxLineProtocol.nanosPerUnit(precision: precision, v1: api == .v1) else {
            return error(api, .badRequest, code: "invalid", "invalid precision \"\(precision)\" (ns, us, ms, s; 1.x also n, u, m, h)")
        }
        switch api {
        case .v1 where (query["db"] ?? "").isEmpty:
            return error(api, .badRequest, code: "invalid", "database is required")
        case .v2 where (query["bucket"] ?? "").isEmpty:
            return error(api, .badRequest, code: "invalid", "bucket is required")
        default: break
        }
        let body: [UInt8]
        switch await IngestRoutes.body(request, worker: worker, configuration: configuration, limit: configuration.maxBodyBytes) {
        case .success(let bytes): body = bytes
        case .failure(let failure):
            let code = switch failure.status {
            case .contentTooLarge: "request too large"
            case .unsupportedMediaType: "unsupported media type"
            default: "invalid"
            }
            return error(api, failure.status, code: code, failure.message)
        }
        let now = wallClockMicros()
        let mapping = hub.configuration.lineProtocol
        let maxFields = hub.configuration.validation.maxFields
        let document = await worker.run {
            LineProtocolDocument.parse(body, nanosPerUnit: nanosPerUnit, mapping: mapping, nowMicros: now, maxFields: maxFields)
        }
        hub.counters.stringFieldsKept.add(document.stringFieldsKept, ordering: .relaxed)
        hub.counters.stringFieldsRejected.add(document.stringFieldsRejected, ordering: .relaxed)
        // A body of blank lines and comments writes nothing, successfully (as InfluxDB answers).
        if document.samples.readings.isEmpty && document.samples.rejectedCount == 0 { return Response(status: .noContent) }
        switch await hub.ingest(document.samples, tenant: tenant, worker: worker, ackTimeout: .milliseconds(configuration.ackTimeoutMillis)) {
        case .durable(let samples, let token):
            var response = samples.rejectedCount == 0 ? Response(status: .noContent) : rejected(api, samples)
            response.headers[IngestRoutes.ingestToken] = token.description
            return response
        case .invalid(let samples):
            return rejected(api, samples)
        case .busy:
            return error(api, .tooManyRequests, code: "too many requests", "the hub is applying backpressure; retry later",
                         retryAfter: configuration.retryAfterSeconds)
        case .tooLarge(let message):
            return error(api, .contentTooLarge, code: "request too large", message)
        case .unavailable(let reason):
            return error(api, .serviceUnavailable, code: "unavailable", reason, retryAfter: configuration.retryAfterSeconds)
        }
    }

    /// 400 naming every refused line (the first ``SampleDocument/maxListedRejections``), as
    /// InfluxDB does: `unable to parse '<line>': <reason>`, joined by newlines; `partial write:` and
    /// the count dropped when other lines were written.
    private static func rejected(_ api: API, _ samples: SampleDocument) -> Response {
        var message = samples.rejected.map(\.message).joined(separator: "\n")
        if samples.rejectedCount > samples.rejected.count { message += "\n(\(samples.rejectedCount - samples.rejected.count) more)" }
        if !samples.readings.isEmpty { message = "partial write: \(message) dropped=\(samples.rejectedCount)" }
        var response = error(api, .badRequest, code: "invalid", message)
        if api == .v2, let first = samples.rejected.first {
            var object: [String: Any] = ["code": "invalid", "message": message, "line": first.line]
            object["rejected"] = samples.rejectedCount
            response = HTTPEndpoints.jsonResponse(.badRequest, object)
        }
        return response
    }

    /// An error in the API's shape: 1.x `{"error": message}` with `X-Influxdb-Error`, 2.x
    /// `{"code": code, "message": message}`.
    private static func error(_ api: API, _ status: HTTPResponse.Status, code: String, _ message: String, retryAfter: Int? = nil) -> Response {
        var response: Response
        switch api {
        case .v1:
            response = HTTPEndpoints.jsonResponse(status, ["error": message])
            let header = message.prefix { $0 != "\n" }.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7f ? Character($0) : "?" }
            response.headers[HTTPFields.Element.Name("X-Influxdb-Error")!] = String(String(header).prefix(512))
        case .v2:
            response = HTTPEndpoints.jsonResponse(status, ["code": code, "message": message])
        }
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}
