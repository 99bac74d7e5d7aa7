/// An error talking to Redis.
public struct RedisError: Error, Sendable, CustomStringConvertible {
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
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String
    public let file: String
    public let line: Int

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// True when the connection is unusable: the caller should reconnect and treat the
    /// situation as an outage, not a task failure.
    public var isConnectionError: Bool { code == .connectionFailed || code == .connectionLost }

    public var description: String { "redis \(code): \(message)" }
}
