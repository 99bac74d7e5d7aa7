import Configuration
import Hub
import Testing

@Suite("HTTP ingest configuration: bearer token")
struct HTTPIngestConfigurationTests {
    @Test("The bearer token is required when configured, compared whole; the scheme in any case")
    func bearer() throws {
        let configured = try ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: ["HTTP_INGEST_TOKEN": "0123456789abcdef"])).section("http.ingest", HTTPIngestConfiguration.init(reader:))
        // The scheme in any case (RFC 9110 §11.1); the token exactly.
        for header in ["Bearer 0123456789abcdef", "bearer 0123456789abcdef", "BEARER 0123456789abcdef"] {
            #expect(configured.authenticate(header, host: "127.0.0.1") == .tenant(nil), "\(header)")
        }
        for header in [nil, "", "Bearer", "Bearer ", "Bearer 0123456789abcde", "Bearer 0123456789abcdefg", "Basic 0123456789abcdef",
                       "Bearer 0123456789ABCDEF", "Bearer  0123456789abcdef", "Bearé 0123456789abcdef", "Bearer\t0123456789abcdef"] {
            #expect(configured.authenticate(header, host: "127.0.0.1") == .unauthorized, "\(header ?? "nil")")
        }
        let open = try ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: [:])).section("http.ingest", HTTPIngestConfiguration.init(reader:))
        #expect(open.authenticate(nil, host: "127.0.0.1") == .tenant(nil) && open.maxBodyBytes == 4 << 20)
        // Without a token, a non-loopback address serves nobody unless unauthenticated ingest is allowed.
        #expect(open.authenticate(nil, host: "10.0.0.5") == .unauthorized)
        #expect(throws: (any Error).self) { try ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: ["HTTP_INGEST_TOKEN": "short"])).section("http.ingest", HTTPIngestConfiguration.init(reader:)) }
    }
}

@Suite("Unauthenticated ingest")
struct UnauthenticatedIngestTests {
    @Test("loopback addresses are told from the others")
    func loopback() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"] { #expect(HTTPIngestConfiguration.isLoopback(host), "\(host)") }
        for host in ["0.0.0.0", "::", "10.0.0.5", "192.168.1.1", "127.0.0.1.evil", "example.com", ""] {
            #expect(!HTTPIngestConfiguration.isLoopback(host), "\(host)")
        }
    }

    @Test("without a token ingest is served on loopback only, unless explicitly allowed")
    func servesIngest() throws {
        func configuration(_ environment: [String: String]) throws -> HTTPIngestConfiguration {
            try ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment)).section("http.ingest", HTTPIngestConfiguration.init(reader:))
        }
        let open = try configuration([:])
        #expect(open.servesIngest(on: "127.0.0.1"))
        #expect(!open.servesIngest(on: "0.0.0.0"))
        #expect(try configuration(["HTTP_INGEST_TOKEN": "0123456789abcdef"]).servesIngest(on: "0.0.0.0"))
        #expect(try configuration(["HTTP_INGEST_ALLOW_UNAUTHENTICATED": "true"]).servesIngest(on: "0.0.0.0"))
    }
}
