public import Configuration
import Foundation

/// Readers that refuse a present but unusable value instead of silently using the default
/// (swift-configuration's `default:` variants fall back on conversion errors).
extension ConfigReader {
    /// An integer within `range`; the default when the key is absent.
    public func strictInt(_ key: String, default value: Int, in range: ClosedRange<Int> = Int.min...Int.max) throws(ConfigurationError) -> Int {
        if let found = int(forKey: ConfigKey(key)) ?? hexadecimal(key) {
            guard range.contains(found) else {
                throw ConfigurationError(key: key, "\(found) is outside \(range.lowerBound)…\(range.upperBound)")
            }
            ConfigKeyCatalog.record(key, value: "\(found)", default: "\(value)", expected: Self.describe(range, "an integer"))
            return found
        }
        try requireAbsent(key, expected: "an integer")
        ConfigKeyCatalog.record(key, value: "\(value)", default: "\(value)", expected: Self.describe(range, "an integer"))
        return value
    }

    /// A number within `range`; the default when the key is absent.
    public func strictDouble(_ key: String, default value: Double, in range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) throws(ConfigurationError) -> Double {
        if let found = double(forKey: ConfigKey(key)) ?? int(forKey: ConfigKey(key)).map(Double.init) {
            guard found.isFinite, range.contains(found) else {
                throw ConfigurationError(key: key, "\(found) is outside \(range.lowerBound)…\(range.upperBound)")
            }
            ConfigKeyCatalog.record(key, value: "\(found)", default: "\(value)", expected: Self.describe(range, "a number"))
            return found
        }
        try requireAbsent(key, expected: "a number")
        ConfigKeyCatalog.record(key, value: "\(value)", default: "\(value)", expected: Self.describe(range, "a number"))
        return value
    }

    /// A boolean; the default when the key is absent.
    public func strictBool(_ key: String, default value: Bool) throws(ConfigurationError) -> Bool {
        if let found = bool(forKey: ConfigKey(key)) {
            ConfigKeyCatalog.record(key, value: "\(found)", default: "\(value)", expected: "true or false")
            return found
        }
        try requireAbsent(key, expected: "true or false")
        ConfigKeyCatalog.record(key, value: "\(value)", default: "\(value)", expected: "true or false")
        return value
    }

    /// A string, optionally one of `choices`; the default when the key is absent.
    public func strictString(_ key: String, default value: String, choices: [String]? = nil) throws(ConfigurationError) -> String {
        let found = string(forKey: ConfigKey(key)) ?? int(forKey: ConfigKey(key)).map(String.init) ?? value
        if let choices, !choices.contains(found) {
            throw ConfigurationError(key: key, "\"\(found)\" is not one of \(choices.joined(separator: ", "))")
        }
        ConfigKeyCatalog.record(key, value: found, default: value, expected: choices.map { "one of \($0.joined(separator: ", "))" } ?? "a string")
        return found
    }

    /// `an integer in 1…65535`, or just `an integer` when the range is the whole type.
    static func describe<T: Comparable>(_ range: ClosedRange<T>, _ kind: String) -> String {
        if let ints = range as? ClosedRange<Int>, ints == Int.min...Int.max { return kind }
        if let doubles = range as? ClosedRange<Double>,
           doubles == -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude { return kind }
        return "\(kind) in \(range.lowerBound)…\(range.upperBound)"
    }

    /// `0x76`-style values (addresses), which YAML and the environment hand over as strings.
    private func hexadecimal(_ key: String) -> Int? {
        guard let text = string(forKey: ConfigKey(key)), text.lowercased().hasPrefix("0x") else { return nil }
        return Int(text.dropFirst(2), radix: 16)
    }

    private func requireAbsent(_ key: String, expected: String) throws(ConfigurationError) {
        let key = ConfigKey(key)
        let present = string(forKey: key) ?? double(forKey: key).map { "\($0)" } ?? bool(forKey: key).map { "\($0)" }
        if let present {
            throw ConfigurationError(key: key.components.joined(separator: "."), "expected \(expected), got \"\(present)\"")
        }
    }
}

extension ConfigReader {
    /// A list of strings (a YAML sequence, or comma-separated in the environment); the default
    /// when the key is absent.
    public func strictStringArray(_ key: String, default value: [String]) throws(ConfigurationError) -> [String] {
        var found = value
        if let list = stringArray(forKey: ConfigKey(key)) {
            found = list.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } else if let single = string(forKey: ConfigKey(key)) {
            found = single.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        ConfigKeyCatalog.record(key, value: "[\(found.joined(separator: ", "))]", default: "[\(value.joined(separator: ", "))]",
                                expected: "a list (YAML sequence, or comma-separated)")
        return found
    }

    /// A string that must be present and not empty.
    public func requiredString(_ key: String) throws(ConfigurationError) -> String {
        let found = try strictString(key, default: "")
        guard !found.isEmpty else { throw ConfigurationError(key: key, "is required") }
        return found
    }

    /// An integer that must be present, within `range`.
    public func requiredInt(_ key: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard int(forKey: ConfigKey(key)) != nil || string(forKey: ConfigKey(key)) != nil else {
            throw ConfigurationError(key: key, "is required")
        }
        return try strictInt(key, default: range.lowerBound, in: range)
    }
}
