import Foundation
import Postgres
import Query
import Testing

/// The streaming replica `make services-test` starts (pg_basebackup -R) and the lag the query
/// service will route by: measured from the processor's heartbeat, cross-checked with the
/// replica's receive and replay positions.
/// Every test that pauses, delays or kills the shared test replica, one at a time: the suites
/// below are nested here so that `.serialized` covers them all (suites run in parallel
/// otherwise, and one test's paused replay would be another's outage).
@Suite("Replica drills (the shared streaming replica, one test at a time)", .serialized)
struct ReplicaDrills {}

typealias ReplicaTests = ReplicaDrills.ReplicaTests

extension ReplicaDrills {
@Suite("Replica lag (real PostgreSQL primary and streaming replica)", .serialized)
struct ReplicaTests {
    static let replicaPort = Int(TestServers.environment["TELEMETRY_REPLICA_PORT"] ?? "") ?? 25433

    /// A connection to `database` on the replica, as `user`; fails saying how to start it.
    static func replica(_ database: String, user: String = TestServers.pgUser) throws -> PostgresConnection {
        do {
            return try PostgresConnection(conninfo: "host=\(TestServers.pgHost) port=\(replicaPort) user=\(user) dbname=\(database) connect_timeout=5")
        } catch {
            throw HarnessError("the PostgreSQL replica is not reachable at \(TestServers.pgHost):\(replicaPort) (\(error)); "
                               + "`make services-test` starts it (Deploy/dev/services.sh start test 26379 25432 25433)")
        }
    }

    static func lag(_ connection: PostgresConnection) throws -> Double {
        Double(try connection.execute("SELECT telemetry_replica_lag()").rows.first?[0] ?? "") ?? -1
    }

    @Test("lag is 0 on the primary and near 0 on a caught-up replica, grows past 5 s while replay is paused, and falls back once it resumes")
    func pausedReplay() async throws {
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "replica-processor", environment: deployment.processorEnvironment())
        let primary = try deployment.database.connect()
        #expect(try await eventually(timeout: .seconds(30)) { (try? Self.lag(primary)) == 0 }, "\(processor.tail)")
        // The database, its schema and the heartbeats reach the replica.
        var replica: PostgresConnection?
        let caughtUp = try await eventually(timeout: .seconds(30)) {
            replica = replica ?? (try? Self.replica(deployment.database.name))
            return try replica.map { try Self.lag($0) < 1 } ?? false
        }
        #expect(caughtUp, "\(processor.tail)")
        let connection = try #require(replica)
        let superuser = try Self.replica("postgres", user: "postgres")
        try superuser.execute("SELECT pg_wal_replay_pause()")
        defer { _ = try? superuser.execute("SELECT pg_wal_replay_resume()") }
        let behind = try await eventually(timeout: .seconds(20)) { try Self.lag(connection) > 5 }
        let measured = try Self.lag(connection)
        #expect(behind && measured < 30, "lag \(measured)")
        try superuser.execute("SELECT pg_wal_replay_resume()")
        let recovered = try await eventually(timeout: .seconds(20)) { try Self.lag(connection) < 1 }
        #expect(recovered, "lag \((try? Self.lag(connection)) ?? -1)")
        #expect(try Self.lag(primary) == 0)
        #expect(await processor.stop() == 0)
        print("replica lag: \(String(format: "%.1f", measured)) s while replay was paused, under 1 s once resumed")
    }

    /// `pg_ctl … -m immediate stop` of the test replica (a crash).
    static func killReplica() async throws {
        let data = TestServers.root.appendingPathComponent(".run/test/replica/data").path
        let (status, output) = try await runTool("/bin/sh", ["-c", "pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); "
                                                              + "runuser -u postgres -- \"$pgbin/pg_ctl\" -D '\(data)' -m immediate -w stop"])
        #expect(status == 0, "\(output)")
    }

    /// Starts the test replica again, detached (the server must not be a child of the tests),
    /// and waits until it answers.
    static func startReplica() async throws {
        let script = TestServers.root.appendingPathComponent("Deploy/dev/services.sh").path
        let log = "\(TestServers.logDirectory)/replica-restart.log"
        let (status, output) = try await runTool("/bin/sh", ["-c", "DURABLE=0 setsid '\(script)' start test \(TestServers.redisPort) \(TestServers.pgPort) "
                                                              + "\(replicaPort) >'\(log)' 2>&1 </dev/null &"])
        #expect(status == 0, "\(output)")
        let up = try await eventually(timeout: .seconds(60)) { (try? Self.replica("postgres", user: "postgres")) != nil }
        #expect(up, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    @Test("a monitored replica serves nothing before its first probe, leaves at the first probe that sees its lag past 5 s, and is back read.open_s after replay resumes; a killed replica is taken out and back once restarted")
    func monitorFollowsLag() async throws {
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "replica-monitor-processor", environment: deployment.processorEnvironment())
        let conninfo = "host=\(TestServers.pgHost) port=\(Self.replicaPort) user=\(TestServers.pgUser) dbname=\(deployment.database.name)"
        let monitor = ReplicaMonitor(name: "r1", role: .read, conninfo: conninfo,
                                     settings: ReplicaBreaker.Settings(maxLagSeconds: 5, maxFailures: 3, openSeconds: 3))
        let probing = Task { await monitor.run(every: .milliseconds(200)) }
        defer { probing.cancel() }
        #expect(!monitor.admits(), "admitted before its first probe")
        #expect(try await eventually(timeout: .seconds(30)) { monitor.admits() }, "never admitted: \(monitor.snapshot)\n\(processor.tail)")

        let superuser = try Self.replica("postgres", user: "postgres")
        try superuser.execute("SELECT pg_wal_replay_pause()")
        defer { _ = try? superuser.execute("SELECT pg_wal_replay_resume()") }
        // Whenever the last probe measured more than 5 s, no read is admitted.
        var sawLag = false
        let left = try await eventually(timeout: .seconds(20), every: .milliseconds(20)) {
            let (_, lag) = monitor.snapshot
            let admitted = monitor.admits()
            if let lag, lag > 5 {
                sawLag = true
                #expect(!admitted, "lag \(lag) s, still admitted")
            }
            return !admitted
        }
        #expect(left && sawLag, "\(monitor.snapshot)")
        try superuser.execute("SELECT pg_wal_replay_resume()")
        // Closed again once the lag is back and open_s (3 s) has passed.
        #expect(try await eventually(timeout: .seconds(15)) { monitor.admits() }, "\(monitor.snapshot)")
        #expect((monitor.snapshot.lagSeconds ?? 99) < 1)

        // A replica that dies: its probes fail, max_failures in a row open the breaker; it is
        // back read.open_s after the replica returns.
        try await Self.killReplica()
        let dead = try await eventually(timeout: .seconds(10)) { !monitor.admits() }
        try await Self.startReplica()
        #expect(dead, "\(monitor.snapshot)")
        #expect(try await eventually(timeout: .seconds(30)) { monitor.admits() }, "\(monitor.snapshot)")

        #expect(await processor.stop() == 0)
    }
}
}
