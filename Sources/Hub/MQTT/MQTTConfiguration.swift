import Configuration
import Foundation
import MQTT
import MQTTCore
import TelemetryConfiguration

/// One MQTT broker the hub subscribes to (Docs/mqtt.md), read from `mqtt.broker.<name>.*`:
///
/// - `url` (required): `mqtt://host[:1883]` or `mqtts://host[:8883]`
/// - `protocol` `5.0` | `3.1.1`, default 5.0
/// - `client_id`: default `telemetry-hub-<host name>-<broker name>`: stable across restarts (never
///   the per-start `hub.id`), so the broker keeps the session's messages while the hub is away
/// - `username`, `password` or `password_file`
/// - `ca_file`, `cert_file`, `key_file`, `server_name`: TLS (`mqtts://`)
/// - `subscriptions`: topic filters, each `<filter> <format>` with format `value`, `json` or
///   `line_protocol`; default `telemetry/+/+ value` and `telemetry/+ json`
/// - `keepalive_s` 30, `session_expiry_s` 604800 (5.0; 3.1.1 sessions last until the broker drops
///   them), `receive_maximum` 1000 (5.0: unacknowledged messages the broker may send ahead),
///   `max_batch_messages` 1000 (messages made durable together), `max_payload_bytes` 1 MiB,
///   `connect_timeout_ms` 10000, `reconnect_initial_ms` 500, `reconnect_max_ms` 30000
package struct MQTTBrokerConfiguration: Sendable, Equatable {
    package var name: String
    package var endpoint: MQTTEndpoint
    package var version: MQTTVersion
    package var clientID: String
    package var username: String?
    package var password: String?
    package var subscriptions: [MQTTSubscription]
    package var keepAliveSeconds: Int
    package var sessionExpirySeconds: Int
    package var receiveMaximum: Int
    package var maxBatchMessages: Int
    package var maxPayloadBytes: Int
    package var connectTimeoutMillis: Int
    package var reconnectInitialMillis: Int
    package var reconnectMaxMillis: Int

    /// The brokers `mqtt.brokers` names, each read from `mqtt.broker.<name>.*`.
    package static func all(reader config: ConfigReader) throws(ConfigurationError) -> [MQTTBrokerConfiguration] {
        let names = try config.strictStringArray("mqtt.brokers", default: [])
        var seen = Set<String>()
        for name in names {
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw ConfigurationError(key: "mqtt.brokers", "\"\(name)\" is not a usable broker name (letters, digits, _ and -)")
            }
            guard seen.insert(name).inserted else { throw ConfigurationError(key: "mqtt.brokers", "\"\(name)\" appears twice") }
        }
        return try names.map { name throws(ConfigurationError) in
            try config.section("mqtt.broker.\(name)") { reader throws(ConfigurationError) in try MQTTBrokerConfiguration(reader: reader, name: name) }
        }
    }

    /// Reads broker `name` from a reader scoped to `mqtt.broker.<name>`.
    package init(reader config: ConfigReader, name: String) throws(ConfigurationError) {
        self.name = name
        let url = try config.requiredString("url")
        guard let components = URLComponents(string: url), let scheme = components.scheme, ["mqtt", "mqtts"].contains(scheme),
              let host = components.host, !host.isEmpty else {
            throw ConfigurationError(key: "mqtt.broker.\(name).url", "\"\(url)\" is not mqtt://host[:port] or mqtts://host[:port]")
        }
        let secure = scheme == "mqtts"
        var tls: MQTTEndpoint.TLS?
        let ca = try config.strictString("ca_file", default: "")
        let certificate = try config.strictString("cert_file", default: "")
        let key = try config.strictString("key_file", default: "")
        let serverName = try config.strictString("server_name", default: "")
        if secure {
            tls = MQTTEndpoint.TLS(caFile: ca.isEmpty ? nil : ca, certificateFile: certificate.isEmpty ? nil : certificate,
                                   keyFile: key.isEmpty ? nil : key, serverName: serverName.isEmpty ? nil : serverName)
        } else if !ca.isEmpty || !certificate.isEmpty || !key.isEmpty {
            throw ConfigurationError(key: "mqtt.broker.\(name).url", "TLS files are set but the URL is not mqtts://")
        }
        guard certificate.isEmpty == key.isEmpty else {
            throw ConfigurationError(key: "mqtt.broker.\(name).cert_file", "cert_file and key_file go together")
        }
        endpoint = MQTTEndpoint(host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: components.port ?? (secure ? 8883 : 1883), tls: tls)
        let protocolName = try config.strictString("protocol", default: "5.0", choices: ["5.0", "3.1.1"])
        version = protocolName == "3.1.1" ? .v311 : .v5
        let configuredID = try config.strictString("client_id", default: "")
        clientID = configuredID.isEmpty ? Self.defaultClientID(broker: name) : configuredID
        guard clientID.utf8.count <= 65_535, !clientID.utf8.contains(0) else {
            throw ConfigurationError(key: "mqtt.broker.\(name).client_id", "must be at most 65 535 bytes without NUL")
        }
        let user = try config.strictString("username", default: "")
        username = user.isEmpty ? nil : user
        var secret = try config.strictString("password", default: "")
        let secretFile = try config.strictString("password_file", default: "")
        if !secretFile.isEmpty {
            guard let text = try? String(contentsOfFile: secretFile, encoding: .utf8) else {
                throw ConfigurationError(key: "mqtt.broker.\(name).password_file", "cannot read \(secretFile)")
            }
            secret = text.trimmingCharacters(in: .newlines)
        }
        password = secret.isEmpty ? nil : secret
        guard version == .v5 || password == nil || username != nil else {
            throw ConfigurationError(key: "mqtt.broker.\(name).username", "MQTT 3.1.1 sends a password only with a user name")
        }
        let lines = try config.strictStringArray("subscriptions", default: ["telemetry/+/+ value", "telemetry/+ json"])
        subscriptions = try lines.map { line throws(ConfigurationError) in
            do throws(MQTTSubscription.Invalid) {
                return try MQTTSubscription(parsing: line)
            } catch {
                throw ConfigurationError(key: "mqtt.broker.\(name).subscriptions", error.message)
            }
        }
        guard !subscriptions.isEmpty else { throw ConfigurationError(key: "mqtt.broker.\(name).subscriptions", "needs at least one topic filter") }
        if version == .v311, let shared = subscriptions.first(where: { $0.filter.hasPrefix("$share/") }) {
            throw ConfigurationError(key: "mqtt.broker.\(name).subscriptions", "\(shared.filter): shared subscriptions need MQTT 5.0")
        }
        keepAliveSeconds = try config.strictInt("keepalive_s", default: 30, in: 5...65_535)
        sessionExpirySeconds = try config.strictInt("session_expiry_s", default: 604_800, in: 60...Int(UInt32.max))
        receiveMaximum = try config.strictInt("receive_maximum", default: 1000, in: 1...65_535)
        maxBatchMessages = try config.strictInt("max_batch_messages", default: 1000, in: 1...65_535)
        maxPayloadBytes = try config.strictInt("max_payload_bytes", default: 1 << 20, in: 64...(64 << 20))
        connectTimeoutMillis = try config.strictInt("connect_timeout_ms", default: 10_000, in: 100...600_000)
        reconnectInitialMillis = try config.strictInt("reconnect_initial_ms", default: 500, in: 10...600_000)
        reconnectMaxMillis = try config.strictInt("reconnect_max_ms", default: 30_000, in: 10...3_600_000)
    }

    /// `telemetry-hub-<host name>-<broker>`: the same on every start of this hub on this host.
    static func defaultClientID(broker: String) -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "telemetry-hub-\(host)-\(broker)"
    }
}

/// A topic filter and how its messages' payloads are read (Docs/mqtt.md).
package struct MQTTSubscription: Sendable, Equatable {
    /// How a payload becomes readings.
    package enum Format: String, Sendable, CaseIterable {
        /// One value: the filter's first `+` level is the device, its second the metric; the
        /// payload a number (sample time: arrival) or `{"value": …, "ts": …}`.
        case value
        /// A JSON object (or array of them) in the seed's shape: `device_id` (else the filter's
        /// first `+` level), `timestamp` (else arrival), numeric fields.
        case json
        /// InfluxDB line protocol (``LineProtocolMapping``), nanosecond timestamps.
        case lineProtocol = "line_protocol"
    }

    /// Why a subscription line is refused.
    package struct Invalid: Error {
        let message: String
    }

    /// The topic filter.
    package var filter: String
    /// The payload format.
    package var format: Format
    /// The filter's levels.
    let levels: [Substring]

    /// Parses `<filter> <format>`; a shared subscription is `$share/<group>/<filter> <format>`.
    package init(parsing line: String) throws(Invalid) {
        let parts = line.split(whereSeparator: \.isWhitespace)
        guard parts.count == 2, let format = Format(rawValue: String(parts[1])) else {
            throw Invalid(message: "\"\(line)\" is not `<topic filter> <format>` with a format of \(Format.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        try self.init(filter: String(parts[0]), format: format)
    }

    /// A subscription; the filter must be valid MQTT (`#` last and alone in its level, `+` alone in its level).
    package init(filter: String, format: Format) throws(Invalid) {
        var levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        // A shared subscription's messages carry their own topic: match what follows the group.
        if levels.first == "$share" {
            guard levels.count >= 3, !levels[1].isEmpty, !levels[1].contains("+"), !levels[1].contains("#") else {
                throw Invalid(message: "\"\(filter)\": a shared subscription is $share/<group>/<filter>")
            }
            levels.removeFirst(2)
        }
        for (index, level) in levels.enumerated() {
            if level.contains("#") && (level != "#" || index != levels.count - 1) {
                throw Invalid(message: "\"\(filter)\": `#` must be the last level, alone")
            }
            if level.contains("+") && level != "+" { throw Invalid(message: "\"\(filter)\": `+` must be a level of its own") }
        }
        guard !filter.isEmpty, !filter.utf8.contains(0) else { throw Invalid(message: "a topic filter must not be empty or hold NUL") }
        let wildcards = levels.filter { $0 == "+" }.count
        if format == .value && wildcards < 2 {
            throw Invalid(message: "\"\(filter) value\": the value format takes the device and the metric from two `+` levels")
        }
        self.filter = filter
        self.format = format
        self.levels = levels
    }

    /// The `+` levels of `topic` when it matches the filter (MQTT 4.7), else nil. A filter
    /// starting with a wildcard does not match topics starting with `$`.
    package func captures(_ topic: String) -> [Substring]? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        if topic.hasPrefix("$"), let first = levels.first, first == "+" || first == "#" { return nil }
        var captured: [Substring] = []
        for (index, level) in levels.enumerated() {
            if level == "#" { return captured }
            guard index < parts.count else { return nil }
            if level == "+" {
                captured.append(parts[index])
            } else if level != parts[index] {
                return nil
            }
        }
        return parts.count == levels.count ? captured : nil
    }
}
