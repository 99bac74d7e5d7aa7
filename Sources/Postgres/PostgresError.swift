/// An error from libpq or the server.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure a ``PostgresError`` is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable {
            case connectionFailed = "connection_failed"
            case connectionLost = "connection_lost"
            case server = "server_error"
        }
        let base: Base
        /// Could not connect (the server is down, refuses, or the credentials are wrong).
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The connection broke during a command.
        public static let connectionLost = Code(base: .connectionLost)
        /// The server answered with an error; ``PostgresError/sqlState`` says which.
        public static let server = Code(base: .server)
        /// The code's name, e.g. `server_error`.
        public var description: String { base.rawValue }
    }

    /// What kind of failure.
    public let code: Code
    /// libpq's or the server's message.
    public let message: String
    /// The server's SQLSTATE, e.g. `23505` for a unique violation.
    public let sqlState: String?
    /// Where the error was raised (for logs).
    public let file: String
    /// The line where the error was raised (for logs).
    public let line: Int

    /// An error of `code` with `message` and the server's `sqlState` if any; `file` and `line` default
    /// to the caller's.
    public init(_ code: Code, _ message: String, sqlState: String? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.file = file
        self.line = line
    }

    /// True for an outage (the connection is gone or the server is shutting down), as opposed to
    /// an error caused by the data or the statement.
    public var isConnectionError: Bool {
        if code != .server { return true }
        guard let sqlState else { return false }
        // 08: connection exception; 57P: operator intervention (shutdown); 53: insufficient resources.
        return sqlState.hasPrefix("08") || sqlState.hasPrefix("57P") || sqlState.hasPrefix("53")
    }

    /// True for a unique-key violation (SQLSTATE 23505).
    public var isUniqueViolation: Bool { sqlState == "23505" }

    /// A deadlock (40P01) or serialization failure (40001): the transaction lost a race with
    /// another one and succeeds when run again; not a fault of the data.
    public var isTransientConflict: Bool { sqlState == "40P01" || sqlState == "40001" }

    /// A data exception (class 22: a value out of range, invalid text) or an integrity violation
    /// (class 23) other than a unique key: caused by the rows written, so running the same rows
    /// again fails the same way.
    public var isDataError: Bool {
        guard let sqlState, !isUniqueViolation else { return false }
        return sqlState.hasPrefix("22") || sqlState.hasPrefix("23")
    }

    /// `postgres <code> [<SQLSTATE>]: <message>`, for logs.
    public var description: String {
        "postgres \(code)\(sqlState.map { " [\($0)]" } ?? ""): \(message)"
    }
}
