public import Configuration

extension ConfigReader {
    /// Reads one component's configuration from the keys under `name`, through a reader
    /// `scoped(to:)` that name: `SpoolConfiguration(reader:)` reads `dir` and gets `spool.dir`
    /// (environment `SPOOL_DIR`). A `ConfigurationError` thrown by `read` names the full key (an
    /// error about the whole section, with an empty key, names the section).
    ///
    /// ```swift
    /// let spool = try config.section("spool") { reader throws(ConfigurationError) in
    ///     try SpoolConfiguration(reader: reader)
    /// }
    /// ```
    public func section<T>(_ name: String, _ read: (ConfigReader) throws(ConfigurationError) -> T) throws(ConfigurationError) -> T {
        do {
            return try read(scoped(to: ConfigKey(name)))
        } catch {
            throw ConfigurationError(key: error.key.isEmpty ? name : "\(name).\(error.key)", error.message)
        }
    }
}
