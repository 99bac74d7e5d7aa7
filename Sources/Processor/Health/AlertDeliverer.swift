import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import Synchronization
import TelemetryCore
import TelemetryStatus

/// Delivers the alert outbox (Docs/alerting.md) to Prometheus Alertmanager's v2 API and to
/// generic webhooks: per target, every event not yet delivered to it, oldest first, one at a
/// time, recorded only after a 2xx, so a target that is down gets everything once it is back
/// (a failing target is retried with exponential backoff up to `alerting.backoff_max_s`, and
/// does not hold up the others). Each event carries an id receivers deduplicate by (a crash
/// between a 2xx and the cursor's update sends that one event again). Webhook bodies are signed
/// with HMAC-SHA256 when the webhook has a secret. Silences still firing are posted to
/// Alertmanager again every `alerting.resend_s`, as its API expects of a client.
package actor AlertDeliverer {
    let settings: AlertingConfiguration
    let outbox: AlertOutbox
    let logger: Logger
    private var nextAttempt: [String: ContinuousClock.Instant] = [:]
    private var backoff: [String: Duration] = [:]
    private var lastResend: ContinuousClock.Instant?

    /// Events delivered (over all targets) and failed attempts.
    package nonisolated let delivered = Atomic<Int>(0)
    package nonisolated let failures = Atomic<Int>(0)

    package init(settings: AlertingConfiguration, outbox: AlertOutbox, logger: Logger) {
        self.settings = settings
        self.outbox = outbox
        self.logger = logger
    }

    var targets: [String] { (settings.alertmanagerURL.isEmpty ? [] : ["alertmanager"]) + settings.webhooks.map(\.name) }

    /// One round: every target's pending events, then Alertmanager's resend when due.
    package func pass() async {
        let targets = self.targets
        do {
            guard try await outbox.lead(targets: targets) else { return }
        } catch {
            logger.warning("alert delivery: the outbox is not reachable", metadata: ["error": "\(error)"])
            return
        }
        for target in targets { await deliver(target) }
        let resend = Duration.seconds(settings.resendSeconds)
        if !settings.alertmanagerURL.isEmpty, lastResend.map({ ContinuousClock.now - $0 >= resend }) ?? true, nextAttempt["alertmanager"] == nil {
            lastResend = .now
            do {
                let firing = try await outbox.firingSilences()
                if !firing.isEmpty {
                    let ends = wallClockMicros() + 4 * Int64(settings.resendSeconds) * 1_000_000
                    try await post(alertmanagerURL, body: try JSONSerialization.data(withJSONObject: firing.map { $0.alertmanagerJSON(endsAtMicros: ends) }), headers: [])
                }
            } catch {
                failures.add(1, ordering: .relaxed)
                logger.warning("alert delivery: re-posting firing silences to Alertmanager failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private var alertmanagerURL: String {
        var base = settings.alertmanagerURL
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/api/v2/alerts"
    }

    private func deliver(_ target: String) async {
        if let next = nextAttempt[target], ContinuousClock.now < next { return }
        do {
            for event in try await outbox.pending(target: target, limit: 100) {
                try await send(event, to: target)
                try await outbox.delivered(target: target, event: event.id)
                delivered.add(1, ordering: .relaxed)
            }
            try await outbox.compact(target: target)
            backoff[target] = nil
            nextAttempt[target] = nil
        } catch {
            failures.add(1, ordering: .relaxed)
            let wait = min((backoff[target] ?? .milliseconds(250)) * 2, .seconds(settings.backoffMaxSeconds))
            backoff[target] = wait
            nextAttempt[target] = .now + wait
            try? await outbox.failed(target: target, error: "\(error)")
            logger.warning("alert delivery failed; trying again", metadata: ["target": "\(target)", "error": "\(error)", "retry_in": "\(wait)"])
        }
    }

    private func send(_ event: AlertEvent, to target: String) async throws {
        if target == "alertmanager" {
            let now = wallClockMicros()
            let ends: Int64 = event.kind == "resolved" ? event.resolvedMicros ?? now
                : event.rule == "silence" ? (event.resolvedMicros ?? now + 4 * Int64(settings.resendSeconds) * 1_000_000)
                : event.tsMicros + Int64(settings.eventTTLSeconds) * 1_000_000
            try await post(alertmanagerURL, body: try JSONSerialization.data(withJSONObject: [event.alertmanagerJSON(endsAtMicros: ends)]), headers: [])
            return
        }
        guard let hook = settings.webhooks.first(where: { $0.name == target }) else { return }
        let body = try JSONSerialization.data(withJSONObject: event.webhookJSON, options: [.sortedKeys])
        var headers = [("X-Telemetry-Event-Id", event.uid)]
        if !hook.secret.isEmpty { headers.append(("X-Telemetry-Signature", "sha256=" + Self.signature(body, secret: hook.secret))) }
        try await post(hook.url, body: body, headers: headers)
    }

    /// The hex HMAC-SHA256 of `body` under `secret`.
    package static func signature(_ body: Data, secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    private func post(_ url: String, body: Data, headers: [(String, String)]) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "telemetry-processor/\(TelemetryVersion.current)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(settings.timeoutMillis)))
        let answer = try await response.body.collect(upTo: 64 << 10)
        guard (200..<300).contains(response.status.code) else {
            throw DeliveryError(description: "\(url) answered \(response.status.code): \(String(buffer: answer).prefix(200))")
        }
    }

    struct DeliveryError: Error, CustomStringConvertible {
        let description: String
    }
}
