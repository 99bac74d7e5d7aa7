/// An error talking to Redis.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure a ``RedisError`` is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable {
            case connectionFailed = "connection_failed"
            case connectionLost = "connection_lost"
            case server = "server_error"
            case protocolError = "protocol_error"
        }
        let base: Base
        /// Could not connect.
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The connection broke during a command (timeout, reset, EOF).
        public static let connectionLost = Code(base: .connectionLost)
        /// Redis answered with an error reply.
        public static let server = Code(base: .server)
        /// The reply was not what the command returns.
        public static let protocolError = Code(base: .protocolError)
        /// The code's name, e.g. `connection_lost`.
        public var description: String { base.rawValue }
    }

    /// What kind of failure.
    public let code: Code
    /// What happened: hiredis's error, the server's error reply, or what was wrong with a reply.
    public let message: String
    /// The file where the error was raised (for logs).
    public let file: String
    /// The line where the error was raised (for logs).
    public let line: Int

    /// An error of `code` with `message`; `file` and `line` default to the caller's.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// True when the connection is unusable: the caller should reconnect and treat the
    /// situation as an outage, not a task failure.
    public var isConnectionError: Bool { code == .connectionFailed || code == .connectionLost }

    /// `redis <code>: <message>`, for logs.
    public var description: String { "redis \(code): \(message)" }
}
