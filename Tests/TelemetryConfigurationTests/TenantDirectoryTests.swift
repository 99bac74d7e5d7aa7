import Configuration
import Foundation
import TelemetryConfiguration
import Testing

@Suite("Tenants and their tokens")
struct TenantDirectoryTests {
    static func directory(_ yaml: [String: String], _ kind: TenantDirectory.TokenKind = .ingest, defaultToken: String? = nil) throws -> TenantDirectory {
        try TenantDirectory(reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: yaml)), loading: kind,
                            defaultToken: defaultToken)
    }

    static let tokenA = "tenant-a-token-0123456789"
    static let tokenB = "tenant-b-token-0123456789"

    @Test("each token names its tenant; the default token the default tenant; any other token is refused")
    func authenticate() throws {
        let tenants = try Self.directory(["TENANTS_NAMES": "a,b-2", "TENANTS_A_INGEST_TOKEN": Self.tokenA, "TENANTS_B_2_INGEST_TOKEN": Self.tokenB,
                                          "TENANTS_A_QUERY_TOKEN": "not-loaded-by-the-hub"], defaultToken: "default-token-0123456789")
        #expect(tenants.names == ["a", "b-2"] && tenants.defaultTenant == "default")
        #expect(tenants.authenticate("Bearer \(Self.tokenA)", anonymous: true) == .tenant("a"))
        #expect(tenants.authenticate("bearer \(Self.tokenB)", anonymous: false) == .tenant("b-2"))
        #expect(tenants.authenticate("Bearer default-token-0123456789", anonymous: false) == .tenant(nil))
        for header in [nil, "Bearer \(Self.tokenA)x", "Bearer not-loaded-by-the-hub", "Bearer ", "Basic \(Self.tokenA)", "Bearer \(Self.tokenA.dropLast())"] {
            #expect(tenants.authenticate(header, anonymous: true) == .unauthorized, "\(header ?? "nil")")
        }
        #expect(tenants.databaseName(nil) == "default" && tenants.databaseName("a") == "a")
        #expect(tenants.normalized("default") == nil && tenants.normalized("a") == "a")
    }

    @Test("without a default token, a request without one is the default tenant's where anonymous requests are allowed")
    func anonymous() throws {
        let tenants = try Self.directory(["TENANTS_NAMES": "a", "TENANTS_A_QUERY_TOKEN": Self.tokenA, "TENANTS_DEFAULT": "plant-1"], .query)
        #expect(tenants.authenticate(nil, anonymous: true) == .tenant(nil))
        #expect(tenants.authenticate(nil, anonymous: false) == .unauthorized)
        #expect(tenants.authenticate("Bearer \(Self.tokenA)", anonymous: false) == .tenant("a"))
        #expect(tenants.authenticate("Bearer someone-else-0123456789", anonymous: true) == .unauthorized)
        #expect(tenants.databaseName(nil) == "plant-1")
        // No token at all: credentials are ignored where anonymous requests are allowed (as before tenants).
        let none = try Self.directory([:])
        #expect(!none.hasTokens && none.authenticate("Bearer whatever", anonymous: true) == .tenant(nil))
        #expect(none.authenticate(nil, anonymous: false) == .unauthorized)
    }

    @Test("token files are read by the daemon that uses them only")
    func files() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tenant-token-\(UUID().uuidString)").path
        try "  \(Self.tokenA)\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let environment = ["TENANTS_NAMES": "a", "TENANTS_A_QUERY_TOKEN_FILE": path, "TENANTS_A_INGEST_TOKEN_FILE": "/nonexistent/ingest-token"]
        #expect(try Self.directory(environment, .query).authenticate("Bearer \(Self.tokenA)", anonymous: false) == .tenant("a"))
        #expect(try Self.directory(environment, .none).tokens.isEmpty)
        #expect(throws: (any Error).self) { try Self.directory(environment, .ingest) }
    }

    @Test("bad names, the default tenant listed, a name twice, a short token and one token for two tenants are refused")
    func refused() {
        for environment in [
            ["TENANTS_NAMES": "A"], ["TENANTS_NAMES": "a b"], ["TENANTS_NAMES": "-a"], ["TENANTS_NAMES": String(repeating: "a", count: 64)],
            ["TENANTS_NAMES": "a:b"], ["TENANTS_NAMES": "names"], ["TENANTS_NAMES": "default"], ["TENANTS_NAMES": "a,a"],
            ["TENANTS_NAMES": "plant", "TENANTS_DEFAULT": "plant"], ["TENANTS_DEFAULT": "Plant"], ["TENANTS_DEFAULT": "a\u{0}"],
            ["TENANTS_NAMES": "a", "TENANTS_A_INGEST_TOKEN": "short"],
            ["TENANTS_NAMES": "a,b", "TENANTS_A_INGEST_TOKEN": Self.tokenA, "TENANTS_B_INGEST_TOKEN": Self.tokenA],
        ] {
            #expect(throws: (any Error).self, "\(environment)") { try Self.directory(environment) }
        }
        #expect(throws: (any Error).self) { try Self.directory(["TENANTS_NAMES": "a", "TENANTS_A_INGEST_TOKEN": Self.tokenA], defaultToken: Self.tokenA) }
        #expect(TenantDirectory.isValidName("a") && TenantDirectory.isValidName("plant_7-b") && TenantDirectory.isValidName(String(repeating: "z", count: 63)))
        #expect(!TenantDirectory.isValidName("") && !TenantDirectory.isValidName("é") && !TenantDirectory.isValidName("_a"))
    }
}
