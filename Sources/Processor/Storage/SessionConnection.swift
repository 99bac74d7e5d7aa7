import Postgres

/// A PostgreSQL connection of one actor's own, opened on first use and again after it broke.
/// Session state (an advisory lock, a `SET`) goes with a broken connection: ``generation``
/// changes with each new one, so the owner knows to take its lock again.
final class SessionConnection {
    let conninfo: String
    private let setup: [String]
    private var connection: PostgresConnection?
    /// Counts the connections opened (0: none yet).
    private(set) var generation = 0

    /// A connection to `conninfo`; each new one runs `setup` first (best effort).
    init(conninfo: String, setup: [String] = []) {
        self.conninfo = conninfo
        self.setup = setup
    }

    /// The open connection, or a new one.
    func live() throws -> PostgresConnection {
        if let connection, connection.isUsable { return connection }
        connection = nil
        let fresh = try PostgresConnection(conninfo: conninfo)
        for statement in setup { _ = try? fresh.execute(statement) }
        connection = fresh
        generation += 1
        return fresh
    }

    /// Drops a connection that broke (the next ``live()`` opens another).
    func forgetIfBroken() {
        if let connection, !connection.isUsable { self.connection = nil }
    }

    func close() {
        connection?.close()
        connection = nil
    }
}
