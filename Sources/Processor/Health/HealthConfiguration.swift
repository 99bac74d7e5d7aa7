import Configuration
import Foundation
import TelemetryConfiguration

/// Device silence (deadman) settings: section `health` (Docs/alerting.md).
package struct HealthConfiguration: Sendable, Equatable {
    /// A group of devices with a known reporting interval (`health.group.<name>.*`).
    package struct Group: Sendable, Equatable {
        package var name: String
        /// Device name patterns (`*` matches any run of characters).
        package var devices: [String]
        package var intervalSeconds: Double
        package var factor: Double
        package var severity: String
    }

    /// `enabled` (`HEALTH_ENABLED`), default true.
    package var enabled: Bool
    /// `interval_s`, default 10: seconds between checks.
    package var intervalSeconds: Int
    /// `factor`, default 3: silent after this many expected intervals without a reading.
    package var factor: Double
    /// `min_silence_s`, default 300: never silent sooner than this.
    package var minSilenceSeconds: Double
    /// `learn_window_s`, default 21600: a device in no group has its interval learnt from this
    /// much of its recent rollups.
    package var learnWindowSeconds: Int
    /// `severity`, default `warning`.
    package var severity: String
    /// `quality_interval_s`, default 300: how often the current hour's data quality is computed.
    package var qualityIntervalSeconds: Int
    /// `groups` and `group.<name>.*`, matched in order.
    package var groups: [Group]

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        enabled = try config.strictBool("enabled", default: true)
        intervalSeconds = try config.strictInt("interval_s", default: 10, in: 1...3600)
        factor = try config.strictDouble("factor", default: 3, in: 1...1000)
        minSilenceSeconds = try config.strictDouble("min_silence_s", default: 300, in: 0...(30 * 86_400))
        learnWindowSeconds = try config.strictInt("learn_window_s", default: 21_600, in: 600...(30 * 86_400))
        severity = try config.strictString("severity", default: "warning", choices: ["info", "warning", "critical"])
        qualityIntervalSeconds = try config.strictInt("quality_interval_s", default: 300, in: 1...86_400)
        let names = try config.strictStringArray("groups", default: [])
        var groups: [Group] = []
        let factor = self.factor, severity = self.severity
        for name in names {
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw ConfigurationError(key: "groups", "\"\(name)\" is not a usable group name (ASCII letters, digits, _ and -)")
            }
            guard !groups.contains(where: { $0.name == name }) else { throw ConfigurationError(key: "groups", "\"\(name)\" appears twice") }
            groups.append(try config.section("group") { reader throws(ConfigurationError) in
                try reader.section(name) { group throws(ConfigurationError) in
                    let devices = try group.strictStringArray("devices", default: [])
                    guard !devices.isEmpty else { throw ConfigurationError(key: "devices", "a group needs at least one device name or pattern") }
                    return Group(name: name, devices: devices,
                                 intervalSeconds: try group.strictDouble("interval_s", default: 60, in: 0.001...(7 * 86_400)),
                                 factor: try group.strictDouble("factor", default: factor, in: 1...1000),
                                 severity: try group.strictString("severity", default: severity, choices: ["info", "warning", "critical"]))
                }
            })
        }
        self.groups = groups
    }

    /// The first group whose patterns match `device`.
    package func group(of device: String) -> Group? {
        groups.first { $0.devices.contains { Self.matches($0, device) } }
    }

    /// Whether `name` matches `pattern`, where `*` stands for any run of characters.
    package static func matches(_ pattern: String, _ name: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { return pattern == name }
        guard name.hasPrefix(parts[0]), name.hasSuffix(parts[parts.count - 1]),
              name.count >= parts[0].count + parts[parts.count - 1].count else { return false }
        var rest = Substring(name.dropFirst(parts[0].count).dropLast(parts[parts.count - 1].count))
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return true
    }
}

/// Alert delivery settings: section `alerting` (Docs/alerting.md).
package struct AlertingConfiguration: Sendable, Equatable {
    /// A generic webhook (`alerting.webhook.<name>.*`).
    package struct Webhook: Sendable, Equatable {
        package var name: String
        package var url: String
        /// The HMAC-SHA256 key of the `X-Telemetry-Signature` header; empty: unsigned.
        package var secret: String
    }

    /// `alertmanager.url` (`ALERTING_ALERTMANAGER_URL`), empty: none. Alerts go to `<url>/api/v2/alerts`.
    package var alertmanagerURL: String
    /// `webhooks` and `webhook.<name>.url|secret|secret_file`.
    package var webhooks: [Webhook]
    /// `resend_s`, default 60: firing alerts are posted to Alertmanager again this often.
    package var resendSeconds: Int
    /// `event_ttl_s`, default 300: how long Alertmanager shows a threshold or anomaly alert (a
    /// point in time) before it counts as resolved.
    package var eventTTLSeconds: Int
    /// `timeout_ms`, default 5000: one delivery's time limit.
    package var timeoutMillis: Int
    /// `backoff_max_s`, default 60: the longest wait between attempts at a failing target.
    package var backoffMaxSeconds: Int

    package var enabled: Bool { !alertmanagerURL.isEmpty || !webhooks.isEmpty }

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        alertmanagerURL = try config.strictString("alertmanager.url", default: "")
        resendSeconds = try config.strictInt("resend_s", default: 60, in: 1...86_400)
        eventTTLSeconds = try config.strictInt("event_ttl_s", default: 300, in: 1...(7 * 86_400))
        timeoutMillis = try config.strictInt("timeout_ms", default: 5000, in: 100...120_000)
        backoffMaxSeconds = try config.strictInt("backoff_max_s", default: 60, in: 1...3600)
        var webhooks: [Webhook] = []
        for name in try config.strictStringArray("webhooks", default: []) {
            guard !name.isEmpty, name != "alertmanager", name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw ConfigurationError(key: "webhooks", "\"\(name)\" is not a usable webhook name (ASCII letters, digits, _ and -; not alertmanager)")
            }
            guard !webhooks.contains(where: { $0.name == name }) else { throw ConfigurationError(key: "webhooks", "\"\(name)\" appears twice") }
            webhooks.append(try config.section("webhook") { reader throws(ConfigurationError) in
                try reader.section(name) { hook throws(ConfigurationError) in
                    let url = try hook.strictString("url", default: "")
                    guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                        throw ConfigurationError(key: "url", "a webhook needs an http:// or https:// url")
                    }
                    var secret = try hook.strictString("secret", default: "")
                    let file = try hook.strictString("secret_file", default: "")
                    if !file.isEmpty {
                        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                            throw ConfigurationError(key: "secret_file", "cannot read \(file)")
                        }
                        secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
                    }
                    return Webhook(name: name, url: url, secret: secret)
                }
            })
        }
        self.webhooks = webhooks
        if !alertmanagerURL.isEmpty, !(alertmanagerURL.hasPrefix("http://") || alertmanagerURL.hasPrefix("https://")) {
            throw ConfigurationError(key: "alertmanager.url", "needs an http:// or https:// url")
        }
    }
}
