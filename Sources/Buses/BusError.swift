/// A failure on a device bus. `kind` is a metric label (errors by kind), so it is a short, closed
/// set; `reconnect` says whether the device has to be opened again.
public struct BusError: Error, Sendable, CustomStringConvertible {
    /// The kind of a bus error, a metric label: one of the constants below (``all``).
    public struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The label as metrics and logs show it (`timeout`, `crc`, …).
        public let rawValue: String
        /// A kind with this label; the bus code only uses the constants below.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The label.
        public var description: String { rawValue }

        /// The device could not be opened (absent, no permission, wrong settings).
        public static let open = Kind(rawValue: "open")
        /// The device went away or a read or write failed.
        public static let io = Kind(rawValue: "io")
        /// No (complete) answer in time.
        public static let timeout = Kind(rawValue: "timeout")
        /// A frame whose checksum does not match.
        public static let crc = Kind(rawValue: "crc")
        /// A well-formed answer that does not fit the request.
        public static let frame = Kind(rawValue: "frame")
        /// The device answered with an error (a Modbus exception).
        public static let exception = Kind(rawValue: "exception")
        /// The device is not what the configuration says (a wrong chip id).
        public static let configuration = Kind(rawValue: "configuration")
        /// A line or value that does not parse (dead-lettered).
        public static let malformed = Kind(rawValue: "malformed")

        /// Every kind, in a fixed order: errors by kind reports each one, zeros included.
        public static let all: [Kind] = [.open, .io, .timeout, .crc, .frame, .exception, .configuration, .malformed]
    }

    /// What went wrong, as a metric label.
    public var kind: Kind
    /// What happened, in words, for logs and status.
    public var message: String
    /// True when the device must be closed and opened again.
    public var reconnect: Bool

    /// An error of `kind`; `reconnect` when the device has to be closed and opened again.
    public init(_ kind: Kind, _ message: String, reconnect: Bool = false) {
        self.kind = kind
        self.message = message
        self.reconnect = reconnect
    }

    /// `kind: message`.
    public var description: String { "\(kind): \(message)" }

    /// The message of `strerror` for a negative errno returned by the C wrappers.
    static func errnoText(_ code: Int32) -> String {
        String(cString: strerror(-code))
    }
}

#if canImport(Glibc)
import Glibc
#endif
