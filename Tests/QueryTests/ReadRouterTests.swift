@testable import Query
import Testing

@Suite("Read routing by consistency level (pure)")
struct ReadRouterTests {
    let replicas = [ReadRouter.Replica(name: "r1", role: .read, admits: true), ReadRouter.Replica(name: "r2", role: .read, admits: false),
                    ReadRouter.Replica(name: "olap", role: .analytics, admits: true)]

    @Test("strong goes to the primary only; eventual tries the cache (latest only), the healthy read replicas, then the primary")
    func levels() {
        #expect(ReadRouter.plan(.strong, latest: true, cache: true, replicas: replicas) == [.primary])
        #expect(ReadRouter.plan(.eventual, latest: true, cache: true, replicas: replicas) == [.cache, .replica("r1"), .primaryFallback])
        #expect(ReadRouter.plan(.eventual, latest: false, cache: true, replicas: replicas) == [.replica("r1"), .primaryFallback])
        #expect(ReadRouter.plan(.eventual, latest: true, cache: false, replicas: replicas) == [.replica("r1"), .primaryFallback])
        #expect(ReadRouter.plan(.session, latest: true, cache: true, replicas: replicas) == [.replica("r1"), .primary])
        #expect(ReadRouter.plan(.analytics, latest: false, cache: true, replicas: replicas) == [.replica("olap")])
    }

    @Test("every read replica open: eventual reads fall back to the primary under its cap (uncapped when none is configured); analytics never goes to the primary")
    func fallbacks() {
        let open = replicas.map { ReadRouter.Replica(name: $0.name, role: $0.role, admits: false) }
        #expect(ReadRouter.plan(.eventual, latest: false, cache: true, replicas: open) == [.primaryFallback])
        // No read replica configured: the primary is where eventual reads run, uncapped.
        #expect(ReadRouter.plan(.eventual, latest: true, cache: true, replicas: []) == [.cache, .primary])
        #expect(ReadRouter.plan(.eventual, latest: false, cache: true, replicas: [replicas[2]]) == [.primary])
        #expect(ReadRouter.plan(.analytics, latest: false, cache: true, replicas: open).isEmpty)
        #expect(ReadSource.primaryFallback.description == "primary" && ReadSource.replica("r1").description == "replica:r1")
    }

    @Test("the level comes from the parameter, else the header, else eventual; any case and spaces; anything else is refused")
    func parsing() {
        #expect(Consistency.requested(parameter: nil, header: nil) == .some(.eventual))
        #expect(Consistency.requested(parameter: "STRONG", header: "analytics") == .some(.strong))
        #expect(Consistency.requested(parameter: nil, header: " Session ") == .some(.session))
        for bad in ["", "eventually", "strong\u{0}", "1e308"] {
            #expect(Consistency.requested(parameter: bad, header: nil) == .some(nil), "\(bad)")
        }
    }
}

@Suite("Replica probe connection settings")
struct ProbeSettingsTests {
    @Test("a probe connection gets a connect timeout, keepalives and a statement timeout, in either conninfo form, unless already set")
    func settings() {
        let keywords = ReplicaMonitor.withProbeSettings("host=r1 port=5433 dbname=telemetry")
        #expect(keywords == "host=r1 port=5433 dbname=telemetry connect_timeout='2' keepalives='1' keepalives_idle='5' keepalives_interval='2' "
                + "keepalives_count='2' options='-c statement_timeout=2000'")
        let url = ReplicaMonitor.withProbeSettings("postgresql://u@r1:5433/telemetry?sslmode=disable")
        #expect(url == "postgresql://u@r1:5433/telemetry?sslmode=disable&connect_timeout=2&keepalives=1&keepalives_idle=5&keepalives_interval=2"
                + "&keepalives_count=2&options=-c%20statement_timeout%3D2000")
        #expect(ReplicaMonitor.withProbeSettings("host=r1 connect_timeout=9").contains("connect_timeout=9")
                && !ReplicaMonitor.withProbeSettings("host=r1 connect_timeout=9").contains("connect_timeout='2'"))
        #expect(ReplicaMonitor.withProbeSettings("").hasPrefix("connect_timeout='2'"))
    }
}
