public import Configuration
import Foundation

/// A bearer token from configuration (`token`, or `token_file`: a file holding it, such as a
/// systemd credential) and the constant-time check of an `Authorization` header against it.
public enum BearerToken {
    /// The token `key` (or the content of the file `fileKey` names, trimmed), nil when neither is
    /// set; shorter than 16 characters is refused.
    public static func read(_ config: ConfigReader, key: String = "token", fileKey: String = "token_file") throws(ConfigurationError) -> String? {
        var token = try config.strictString(key, default: "")
        let file = try config.strictString(fileKey, default: "")
        if !file.isEmpty {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ConfigurationError(key: fileKey, "cannot read \(file)")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            // An empty file must not turn authentication off.
            guard !token.isEmpty else { throw ConfigurationError(key: fileKey, "\(file) is empty") }
        }
        if !token.isEmpty, token.utf8.count < 16 {
            throw ConfigurationError(key: key, "a bearer token needs at least 16 characters")
        }
        return token.isEmpty ? nil : token
    }

    /// The token `header` (an `Authorization` value) carries after `Bearer ` (any case), or nil.
    public static func presented(_ header: String?) -> [UInt8]? {
        // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
        guard let header, header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        return Array(header.utf8.dropFirst(7))
    }

    /// True when `given` equals `token`, compared in constant time for a given token length.
    public static func matches(_ given: [UInt8], _ token: String) -> Bool {
        let expected = Array(token.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in expected.indices { difference |= expected[index] ^ (index < given.count ? given[index] : 0) }
        return difference == 0
    }

    /// True when `header` carries `token`, or no token is configured.
    public static func authorizes(_ header: String?, token: String?) -> Bool {
        guard let token else { return true }
        guard let given = presented(header) else { return false }
        return matches(given, token)
    }
}

/// Whether an `http.host` is a loopback address: `127.0.0.0/8`, `::1` and `localhost`. Routes that
/// read or write the plant's data are served without a token only there, unless allowed.
public enum LoopbackHost {
    /// True for a loopback `host`.
    public static func contains(_ host: String) -> Bool {
        let trimmed = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if trimmed == "localhost" || trimmed == "::1" || trimmed == "0:0:0:0:0:0:0:1" { return true }
        let parts = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
