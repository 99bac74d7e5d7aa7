/// A failure on a device bus. `kind` is a metric label (errors by kind), so it is a short, closed
/// set; `reconnect` says whether the device has to be opened again.
public struct BusError: Error, Sendable, CustomStringConvertible {
    public struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
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

        public static let all: [Kind] = [.open, .io, .timeout, .crc, .frame, .exception, .configuration, .malformed]
    }

    public var kind: Kind
    public var message: String
    /// True when the device must be closed and opened again.
    public var reconnect: Bool

    public init(_ kind: Kind, _ message: String, reconnect: Bool = false) {
        self.kind = kind
        self.message = message
        self.reconnect = reconnect
    }

    public var description: String { "\(kind): \(message)" }

    /// The message of `strerror` for a negative errno returned by the C wrappers.
    static func errnoText(_ code: Int32) -> String {
        String(cString: strerror(-code))
    }
}

#if canImport(Glibc)
import Glibc
#endif
