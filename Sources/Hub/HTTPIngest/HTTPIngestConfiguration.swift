import Configuration
import Foundation
import TelemetryConfiguration

/// `POST /v1/samples` and `POST /v1/tasks` on the hub's HTTP port (Docs/http-ingest.md).
///
/// Keys (environment name in brackets), defaults:
/// - `http.ingest.token` (`HTTP_INGEST_TOKEN`) or `http.ingest.token_file` (a file holding it,
///   e.g. a systemd credential): when set, requests need `Authorization: Bearer <token>`; none by default
/// - `http.ingest.max_body_bytes` 4 MiB, enforced on the body as sent and again after decompression
/// - `http.ingest.body_timeout_ms` 30 000: the whole body must arrive within this time (408)
/// - `http.ingest.ack_timeout_ms` 30 000: longest wait for the samples to become durable (503)
/// - `http.ingest.retry_after_s` 1: `Retry-After` of 429 and 503 answers
/// - `http.ingest.max_concurrent_requests` 16: more requests in flight get 429 before their body
///   is read (each holds its body until answered)
/// - `http.ingest.parse_threads` (`HTTP_INGEST_PARSE_THREADS`), default the number of cores (at most
///   16): threads that inflate and parse request bodies, so concurrent requests are parsed at once
/// - `http.ingest.allow_unauthenticated` (`HTTP_INGEST_ALLOW_UNAUTHENTICATED`) false: without a
///   token, the ingest routes are served on a loopback `http.host` only; on any other address they
///   answer 403 unless this is true (logged at start)
package struct HTTPIngestConfiguration: Sendable {
    package var token: String?
    package var maxBodyBytes: Int
    package var bodyTimeoutMillis: Int
    package var ackTimeoutMillis: Int
    package var retryAfterSeconds: Int
    package var maxConcurrentRequests: Int
    /// Threads that inflate and parse bodies (`http.ingest.parse_threads`).
    package var parseThreads: Int
    /// Serve ingest without a token on a non-loopback address (`http.ingest.allow_unauthenticated`).
    package var allowUnauthenticated: Bool
    /// The tenants and their ingest tokens (section `tenants`, read beside this one; `token` is the
    /// default tenant's).
    package var tenants = TenantDirectory()

    /// Reads a reader scoped to `http.ingest` (``ConfigReader/section(_:_:)``).
    package init(reader config: ConfigReader) throws(ConfigurationError) {
        token = try BearerToken.read(config)
        maxBodyBytes = try config.strictInt("max_body_bytes", default: 4 << 20, in: 1024...(256 << 20))
        bodyTimeoutMillis = try config.strictInt("body_timeout_ms", default: 30_000, in: 100...3_600_000)
        ackTimeoutMillis = try config.strictInt("ack_timeout_ms", default: 30_000, in: 100...3_600_000)
        retryAfterSeconds = try config.strictInt("retry_after_s", default: 1, in: 1...3600)
        maxConcurrentRequests = try config.strictInt("max_concurrent_requests", default: 16, in: 1...10_000)
        parseThreads = try config.strictInt("parse_threads", default: min(16, max(1, ProcessInfo.processInfo.activeProcessorCount)), in: 1...64)
        allowUnauthenticated = try config.strictBool("allow_unauthenticated", default: false)
    }

    /// Whether ingest may be served on `host`: with a token always; without one on a loopback
    /// address, or when explicitly allowed. Anyone who can reach an open ingest port can write
    /// readings into the plant's history.
    package func servesIngest(on host: String) -> Bool {
        token != nil || tenants.hasTokens || allowUnauthenticated || Self.isLoopback(host)
    }

    /// `127.0.0.0/8`, `::1` and `localhost`.
    package static func isLoopback(_ host: String) -> Bool { LoopbackHost.contains(host) }

    /// The tenant `header` (the `Authorization` value) names on `host` (nil: the default
    /// tenant), or unauthorized: a bearer token (`Bearer `, any case) must be one of the
    /// configured ones (compared in constant time); a request without one is the default tenant's
    /// when `http.ingest.token` is unset and `host` is loopback or unauthenticated ingest is allowed.
    package func authenticate(_ header: String?, host: String) -> TenantDirectory.Authentication {
        var directory = tenants
        if directory.tokens.isEmpty, let token { directory = TenantDirectory(defaultTenant: tenants.defaultTenant, defaultToken: token) }
        return directory.authenticate(header, anonymous: allowUnauthenticated || Self.isLoopback(host))
    }
}
