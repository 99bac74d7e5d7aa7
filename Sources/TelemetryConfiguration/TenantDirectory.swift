public import Configuration

/// The tenants of a deployment and the bearer tokens that name them (Docs/tenants.md).
///
/// Configured the way buses are: `tenants.names: [a, b]`, then per name `tenants.<name>.ingest_token`
/// and `tenants.<name>.query_token` (or their `_file` variants, a file holding the token, such as a
/// systemd credential). `tenants.default` (default `default`) names the tenant of everything no
/// token names: bus readings, seed-format tasks, HTTP requests under `http.ingest.token` (hub) or
/// `http.query.token` (query daemon) or without a token where none is required. Its tokens are
/// those two keys, so `tenants.names` lists the other tenants only.
///
/// Every daemon reads the whole section (so one `tenants:` block can be pasted into each file);
/// a token file is opened only by the daemon that uses that kind of token.
///
/// ```swift
/// let tenants = try TenantDirectory(reader: config, loading: .ingest, defaultToken: token)
/// switch tenants.authenticate(request.headers[.authorization], anonymous: true) {
/// case .tenant(let name): …   // nil: the default tenant
/// case .unauthorized: …
/// }
/// ```
public struct TenantDirectory: Sendable, Equatable {
    /// Which of a tenant's tokens a daemon checks.
    public enum TokenKind: String, Sendable {
        /// The hub: `tenants.<name>.ingest_token`.
        case ingest
        /// The query daemon: `tenants.<name>.query_token`.
        case query
        /// The processor: none (it only needs the default tenant's name).
        case none
    }

    /// What a request's `Authorization` header makes of it.
    public enum Authentication: Sendable, Equatable {
        /// The request acts for a tenant: nil is the default tenant.
        case tenant(String?)
        /// The header names no configured token (or none was given where one is required).
        case unauthorized
    }

    /// `tenants.default`: the name of the default tenant in the database.
    public var defaultTenant: String
    /// `tenants.names`, in configuration order (the default tenant is not among them).
    public var names: [String]
    /// The loaded tokens: the default tenant's (nil name) first when configured, then each tenant's.
    public var tokens: [(tenant: String?, token: String)] { tokenList.map { ($0.tenant, $0.token) } }

    private struct Entry: Sendable, Equatable {
        var tenant: String?
        var token: String
    }
    private var tokenList: [Entry]

    /// Whether `name` can name a tenant: 1 to 63 bytes of lower-case ASCII letters, digits, `_`
    /// and `-`, starting with a letter or a digit (it appears in cache keys and metric labels).
    public static func isValidName(_ name: some StringProtocol) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), let first = bytes.first, isLowerAlphanumeric(first) else { return false }
        return bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// A directory with only the default tenant, reached with `defaultToken` (or without a token).
    public init(defaultTenant: String = "default", defaultToken: String? = nil) {
        self.defaultTenant = defaultTenant
        names = []
        tokenList = defaultToken.map { [Entry(tenant: nil, token: $0)] } ?? []
    }

    /// Reads `tenants.*` from `config` (the root reader), loading the tokens of `kind`;
    /// `defaultToken` is the default tenant's (`http.ingest.token` or `http.query.token`).
    public init(reader config: ConfigReader, loading kind: TokenKind, defaultToken: String?) throws(ConfigurationError) {
        defaultTenant = try config.strictString("tenants.default", default: "default")
        guard Self.isValidName(defaultTenant) else {
            throw ConfigurationError(key: "tenants.default", "\"\(defaultTenant)\" is not a usable tenant name (1 to 63 of a-z, 0-9, _ and -)")
        }
        names = try config.strictStringArray("tenants.names", default: [])
        tokenList = defaultToken.map { [Entry(tenant: nil, token: $0)] } ?? []
        var seen = Set<String>()
        for name in names {
            guard Self.isValidName(name), name != "names", name != "default" else {
                throw ConfigurationError(key: "tenants.names", "\"\(name)\" is not a usable tenant name (1 to 63 of a-z, 0-9, _ and -; not names or default)")
            }
            guard name != defaultTenant else {
                throw ConfigurationError(key: "tenants.names", "\"\(name)\" is the default tenant (tenants.default): its tokens are http.ingest.token and http.query.token")
            }
            guard seen.insert(name).inserted else { throw ConfigurationError(key: "tenants.names", "\"\(name)\" appears twice") }
            let loaded = try config.section("tenants.\(name)") { reader throws(ConfigurationError) -> String? in
                var wanted: String?
                for candidate in [TokenKind.ingest, .query] {
                    let key = "\(candidate.rawValue)_token"
                    if candidate == kind {
                        wanted = try BearerToken.read(reader, key: key, fileKey: key + "_file")
                    } else {
                        // Recorded (so the key is known) but its file is not opened: another daemon's token.
                        _ = try reader.strictString(key, default: "")
                        _ = try reader.strictString(key + "_file", default: "")
                    }
                }
                return wanted
            }
            if let loaded { tokenList.append(Entry(tenant: name, token: loaded)) }
        }
        for (index, entry) in tokenList.enumerated() where tokenList[..<index].contains(where: { $0.token == entry.token }) {
            let key = entry.tenant.map { "tenants.\($0).\(kind.rawValue)_token" } ?? "tenants"
            throw ConfigurationError(key: key, "the same token is configured for two tenants: each token must name one tenant")
        }
    }

    /// Whether any token is configured for the loaded kind.
    public var hasTokens: Bool { !tokenList.isEmpty }

    /// Whether the default tenant needs a token (`http.ingest.token` / `http.query.token` is set).
    public var defaultNeedsToken: Bool { tokenList.contains { $0.tenant == nil } }

    /// The tenant `header` (an `Authorization` value) names. A bearer token must match one of the
    /// configured tokens (every one is compared, in constant time for a given length); without
    /// one, the request is the default tenant's when `anonymous` (no default token, and the
    /// caller allows unauthenticated requests), else unauthorized.
    public func authenticate(_ header: String?, anonymous: Bool) -> Authentication {
        guard let given = BearerToken.presented(header) else {
            return anonymous && !defaultNeedsToken ? .tenant(nil) : .unauthorized
        }
        var found: Authentication = .unauthorized
        for entry in tokenList where BearerToken.matches(given, entry.token) {
            found = .tenant(entry.tenant)
        }
        if found == .unauthorized, tokenList.isEmpty, anonymous { return .tenant(nil) }
        return found
    }

    /// The tenant's name in the database: `tenant`, or ``defaultTenant`` for nil.
    public func databaseName(_ tenant: String?) -> String { tenant ?? defaultTenant }

    /// `name` as a request's tenant: nil when it is the default tenant.
    public func normalized(_ name: String?) -> String? {
        guard let name, name != defaultTenant else { return nil }
        return name
    }
}
