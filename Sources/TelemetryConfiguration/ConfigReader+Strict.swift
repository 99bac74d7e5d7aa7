public import Configuration

/// Readers that refuse a present but unusable value instead of silently using the default
/// (swift-configuration's `default:` variants fall back on conversion errors).
extension ConfigReader {
    /// An integer within `range`; the default when the key is absent.
    public func strictInt(_ key: String, default value: Int, in range: ClosedRange<Int> = Int.min...Int.max) throws(ConfigurationError) -> Int {
        if let found = int(forKey: ConfigKey(key)) {
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

    private func requireAbsent(_ key: String, expected: String) throws(ConfigurationError) {
        let key = ConfigKey(key)
        let present = string(forKey: key) ?? double(forKey: key).map { "\($0)" } ?? bool(forKey: key).map { "\($0)" }
        if let present {
            throw ConfigurationError(key: key.components.joined(separator: "."), "expected \(expected), got \"\(present)\"")
        }
    }
}
