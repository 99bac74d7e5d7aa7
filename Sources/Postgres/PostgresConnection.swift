import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// Rows of a query result, as text.
public struct PostgresRows: Sendable {
    /// The column names, in order.
    public let columns: [String]
    /// Each row's values as text, in column order; nil is SQL NULL.
    public let rows: [[String?]]
    /// Rows affected by INSERT/UPDATE/DELETE/COPY.
    public let affected: Int
}

/// One synchronous libpq connection. Every call blocks its thread: use it only from an actor
/// pinned to a ``ThreadExecutor`` (the processor's StorageActor is), never from the cooperative pool.
///
/// ```swift
/// let pg = try PostgresConnection(conninfo: "postgresql://telemetry@127.0.0.1:15432/telemetry")
/// let rows = try pg.query("SELECT count(*) FROM samples")
/// ```
public final class PostgresConnection {
    private var connection: OpaquePointer?
    /// The connection string or URL it was opened with (it may hold a password: do not log it).
    public let conninfo: String

    /// Connects with a libpq connection string or URL; an empty string uses the `PG*` environment.
    public init(conninfo: String) throws(PostgresError) {
        self.conninfo = conninfo
        guard let connection = PQconnectdb(conninfo) else {
            throw PostgresError(.connectionFailed, "cannot allocate a libpq connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.message(connection)
            PQfinish(connection)
            throw PostgresError(.connectionFailed, "cannot connect to postgres: \(message)")
        }
        self.connection = connection
        _ = try? execute("SET client_min_messages = warning")
    }

    deinit { if let connection { PQfinish(connection) } }

    /// False once the connection broke; make a new one.
    public var isUsable: Bool {
        guard let connection else { return false }
        return PQstatus(connection) == CONNECTION_OK
    }

    /// Closes the connection; calling it again does nothing, other calls then throw `connectionLost`.
    public func close() {
        if let connection { PQfinish(connection) }
        connection = nil
    }

    /// Runs one or more statements without parameters.
    @discardableResult
    public func execute(_ sql: String) throws(PostgresError) -> PostgresRows {
        let connection = try live()
        return try consume(PQexec(connection, sql), connection)
    }

    /// Runs one statement with text parameters (`$1`, `$2`, …; nil is NULL).
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresRows {
        let connection = try live()
        if parameters.isEmpty { return try consume(PQexec(connection, sql), connection) }
        var cStrings: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.flatMap { strdup($0) } }
        defer { for pointer in cStrings { free(pointer) } }
        let result = cStrings.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                PQexecParams(connection, sql, Int32(parameters.count), nil, values.baseAddress, nil, nil, 0)
            }
        }
        return try consume(result, connection)
    }

    /// Runs `COPY … FROM STDIN` and streams `data` (text or binary, as the statement says).
    /// Returns the number of rows copied.
    @discardableResult
    public func copyIn(_ sql: String, data: [UInt8]) throws(PostgresError) -> Int {
        let connection = try live()
        let start = PQexec(connection, sql)
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try consume(start, connection)
            throw PostgresError(.server, "\(sql) did not start a COPY")
        }
        PQclear(start)
        var offset = 0
        let chunk = 1 << 20
        while offset < data.count {
            let n = min(chunk, data.count - offset)
            let sent = data.withUnsafeBufferPointer { buffer in
                buffer.baseAddress!.advanced(by: offset).withMemoryRebound(to: CChar.self, capacity: n) {
                    PQputCopyData(connection, $0, Int32(n))
                }
            }
            guard sent == 1 else { break }
            offset += n
        }
        // Data that could not all be sent ends the COPY with an error message, so the server
        // aborts it (and the transaction) rather than taking a stream cut at a row boundary.
        let ended = offset < data.count
            ? PQputCopyEnd(connection, "the client could not send all copy data")
            : PQputCopyEnd(connection, nil)
        guard ended == 1, offset == data.count else {
            throw PostgresError(.connectionLost, Self.message(connection))
        }
        var firstError: PostgresError?
        var affected = 0
        while let result = PQgetResult(connection) {
            do {
                affected = try consume(result, connection).affected
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
        return affected
    }

    /// Runs `COPY … TO STDOUT` and hands its data to `body` in chunks of whole messages (about
    /// `chunkBytes` each; in binary format the first holds the header, each message one row, the
    /// last the trailer). Returns the number of rows copied. An error thrown by `body` stops the
    /// copy: the connection is then closed (the server would go on sending), so make a new one.
    @discardableResult
    public func copyOut(_ sql: String, chunkBytes: Int = 1 << 20, _ body: ([UInt8]) throws -> Void) throws -> Int {
        let connection = try live()
        let start = PQexec(connection, sql)
        guard PQresultStatus(start) == PGRES_COPY_OUT else {
            _ = try consume(start, connection)
            throw PostgresError(.server, "\(sql) did not start a COPY TO STDOUT")
        }
        PQclear(start)
        var chunk: [UInt8] = []
        chunk.reserveCapacity(chunkBytes + 4096)
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(connection, &buffer, 0)
            if length > 0, let buffer {
                buffer.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
                    chunk.append(contentsOf: UnsafeBufferPointer(start: $0, count: Int(length)))
                }
                PQfreemem(buffer)
                if chunk.count >= chunkBytes {
                    do {
                        try body(chunk)
                    } catch {
                        close()
                        throw error
                    }
                    chunk.removeAll(keepingCapacity: true)
                }
                continue
            }
            if length == -1 { break }
            throw PostgresError(.connectionLost, Self.message(connection))
        }
        if !chunk.isEmpty {
            do { try body(chunk) } catch { close(); throw error }
        }
        var firstError: PostgresError?
        var affected = 0
        while let result = PQgetResult(connection) {
            do { affected = try consume(result, connection).affected } catch { if firstError == nil { firstError = error } }
        }
        if let firstError { throw firstError }
        return affected
    }

    private func live() throws(PostgresError) -> OpaquePointer {
        guard let connection else { throw PostgresError(.connectionLost, "connection is closed") }
        if PQstatus(connection) != CONNECTION_OK {
            throw PostgresError(.connectionLost, "connection lost: \(Self.message(connection))")
        }
        return connection
    }

    private func consume(_ result: OpaquePointer?, _ connection: OpaquePointer) throws(PostgresError) -> PostgresRows {
        guard let result else {
            throw PostgresError(.connectionLost, Self.message(connection))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN:
            break
        default:
            let message = String(cString: PQresultErrorMessage(result)).trimmingSuffixNewlines()
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            if PQstatus(connection) != CONNECTION_OK {
                throw PostgresError(.connectionLost, message, sqlState: state)
            }
            throw PostgresError(.server, message, sqlState: state)
        }
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [String] = []
        for c in 0..<columnCount { columns.append(String(cString: PQfname(result, Int32(c)))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var row: [String?] = []
            row.reserveCapacity(columnCount)
            for c in 0..<columnCount {
                if PQgetisnull(result, Int32(r), Int32(c)) == 1 {
                    row.append(nil)
                } else {
                    row.append(String(cString: PQgetvalue(result, Int32(r), Int32(c))))
                }
            }
            rows.append(row)
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(columns: columns, rows: rows, affected: affected)
    }

    private static func message(_ connection: OpaquePointer) -> String {
        String(cString: PQerrorMessage(connection)).trimmingSuffixNewlines()
    }
}

extension String {
    func trimmingSuffixNewlines() -> String {
        var s = self
        while s.last == "\n" || s.last == " " { s.removeLast() }
        return s
    }
}
