import Foundation
import Postgres
import Redis
import Testing

/// Where the real servers started by `make test` (or `make services-test`) are.
enum TestServers {
    static let environment = ProcessInfo.processInfo.environment
    static let redisHost = environment["REDIS_HOST"] ?? "127.0.0.1"
    static let redisPort = Int(environment["REDIS_PORT"] ?? "") ?? 26379
    static let pgHost = environment["PGHOST"] ?? "127.0.0.1"
    static let pgPort = Int(environment["PGPORT"] ?? "") ?? 25432
    static let pgUser = environment["PGUSER"] ?? "telemetry"
    /// The query daemon's role: a member of telemetry_reader, not the tables' owner, so their
    /// row-level security applies to it (Deploy/dev/services.sh creates it).
    static let queryUser = "telemetry_query"
    static let hint = "start them with `make services-test` (Redis on 127.0.0.1:26379, PostgreSQL on 127.0.0.1:25432) or run `make test`"

    static var redisEndpoint: RedisEndpoint { RedisEndpoint(host: redisHost, port: redisPort) }

    /// The repository's root directory.
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent() }

    /// Directory of the built daemons.
    static var binDirectory: String {
        if let dir = environment["TELEMETRY_BIN_DIR"] { return dir }
        return root.appendingPathComponent(".build/debug").path
    }

    static var logDirectory: String {
        let dir = root.appendingPathComponent(".run/test/logs").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A plain Redis connection; fails the test with a hint when Redis is not there.
    static func redis() throws -> RedisConnection {
        do {
            return try RedisConnection(endpoint: redisEndpoint)
        } catch {
            throw HarnessError("Redis is not reachable at \(redisHost):\(redisPort) (\(error)); \(hint)")
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
