/// One versioned schema change.
public struct Migration: Sendable {
    /// Its version, unique among the migrations: they are applied in ascending order, each once.
    public let version: Int
    /// A short name, recorded with the version in `schema_migrations`.
    public let name: String
    /// The statements to run, in one transaction with the record of the migration.
    public let sql: String
    /// A migration `version` named `name` that runs `sql`.
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies versioned migrations once each, recording them in `schema_migrations`.
///
/// A session-level advisory lock serialises concurrent runners, so two processors starting at
/// the same time apply each migration exactly once.
public enum MigrationRunner {
    /// The advisory lock key (arbitrary, fixed).
    public static let lockKey: Int64 = 0x7465_6c65_6d74_7279

    /// Applies the migrations not yet recorded, in version order; returns the versions applied.
    @discardableResult
    public static func migrate(_ connection: PostgresConnection, migrations: [Migration]) throws(PostgresError) -> [Int] {
        try connection.query("SELECT pg_advisory_lock($1)", [String(lockKey)])
        defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [String(lockKey)]) }
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())
            """)
        let applied = Set(try connection.query("SELECT version FROM schema_migrations").rows.compactMap { $0[0].flatMap { Int($0) } })
        var done: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
            try connection.execute("BEGIN")
            do {
                try connection.execute(migration.sql)
                try connection.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [String(migration.version), migration.name])
                try connection.execute("COMMIT")
            } catch {
                _ = try? connection.execute("ROLLBACK")
                throw error
            }
            done.append(migration.version)
        }
        return done
    }
}
