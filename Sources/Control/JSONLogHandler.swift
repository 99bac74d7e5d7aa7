import Foundation
import SystemSupport
import TelemetryCore
public import Logging

/// One JSON object per line on stderr, for containers and log shippers: `ts` (RFC 3339, UTC,
/// microseconds), `level`, `logger`, `message`, `source`, `file`, `line`, then each metadata key
/// as a field of its own (a key that names one of those fields gets a `_` in front).
public struct JSONLogHandler: LogHandler {
    /// The fields every line carries.
    static let ownFields: Set<String> = ["ts", "level", "logger", "message", "source", "file", "line"]

    /// The logger's label (the `logger` field).
    public let label: String
    /// Records below this level are dropped.
    public var logLevel: Logger.Level = .info
    /// Metadata added to every record of this logger.
    public var metadata: Logger.Metadata = [:]
    /// Metadata added from the task context at each record.
    public var metadataProvider: Logger.MetadataProvider?
    private let write: @Sendable (String) -> Void

    /// A handler labelled `label` writing each line with `write` (stderr unless told).
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil,
                write: @escaping @Sendable (String) -> Void = { StandardError.write($0) }) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    /// One metadata value of this logger.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes the record as one line: the logger's metadata, the provider's, then the record's.
    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        write(Self.line(time: Date(), level: event.level, label: label, message: "\(event.message)", source: event.source,
                        file: event.file, line: event.line, metadata: merged))
    }

    /// The line for one record, newline included.
    static func line(time: Date, level: Logger.Level, label: String, message: String, source: String, file: String, line: UInt,
                     metadata: Logger.Metadata) -> String {
        let micros = Int64((time.timeIntervalSince1970 * 1_000_000).rounded())
        var text = "{\"ts\":\"\(Timestamp.formatRFC3339(micros: micros))\",\"level\":\"\(level.rawValue)\",\"logger\":\(quoted(label))"
        text += ",\"message\":\(quoted(message)),\"source\":\(quoted(source)),\"file\":\(quoted(file)),\"line\":\(line)"
        for key in metadata.keys.sorted() {
            text += ",\(quoted(ownFields.contains(key) ? "_" + key : key)):\(value(metadata[key]!))"
        }
        return text + "}\n"
    }

    /// Metadata as JSON: strings quoted, arrays and dictionaries nested, `stringConvertible` as its description.
    static func value(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return quoted(text)
        case .stringConvertible(let convertible): return quoted(convertible.description)
        case .array(let items): return "[" + items.map(Self.value).joined(separator: ",") + "]"
        case .dictionary(let items): return "{" + items.keys.sorted().map { "\(quoted($0)):\(Self.value(items[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// `text` as a JSON string: quotes, backslashes and every control character escaped, so a
    /// NUL or a newline in a message never breaks the line.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
