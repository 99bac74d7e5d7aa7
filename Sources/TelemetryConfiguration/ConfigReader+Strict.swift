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
            return found
        }
        try requireAbsent(key, expected: "an integer")
        return value
    }

    /// A number within `range`; the default when the key is absent.
    public func strictDouble(_ key: String, default value: Double, in range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) throws(ConfigurationError) -> Double {
        if let found = double(forKey: ConfigKey(key)) ?? int(forKey: ConfigKey(key)).map(Double.init) {
            guard found.isFinite, range.contains(found) else {
                throw ConfigurationError(key: key, "\(found) is outside \(range.lowerBound)…\(range.upperBound)")
            }
            return found
        }
        try requireAbsent(key, expected: "a number")
        return value
    }

    /// A boolean; the default when the key is absent.
    public func strictBool(_ key: String, default value: Bool) throws(ConfigurationError) -> Bool {
        if let found = bool(forKey: ConfigKey(key)) { return found }
        try requireAbsent(key, expected: "true or false")
        return value
    }

    /// A string, optionally one of `choices`; the default when the key is absent.
    public func strictString(_ key: String, default value: String, choices: [String]? = nil) throws(ConfigurationError) -> String {
        let found = string(forKey: ConfigKey(key)) ?? int(forKey: ConfigKey(key)).map(String.init) ?? value
        if let choices, !choices.contains(found) {
            throw ConfigurationError(key: key, "\"\(found)\" is not one of \(choices.joined(separator: ", "))")
        }
        return found
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
        if let found = stringArray(forKey: ConfigKey(key)) { return found.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        if let single = string(forKey: ConfigKey(key)) {
            return single.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return value
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
