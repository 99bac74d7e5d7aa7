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
            // The section's full path, for the keys ConfigKeyCatalog records while it reads.
            return try ConfigKeyCatalog.$sectionPath.withValue(ConfigKeyCatalog.fullKey(name)) {
                try read(scoped(to: ConfigKey(name)))
            }
        } catch let error as ConfigurationError {
            throw ConfigurationError(key: error.key.isEmpty ? name : "\(name).\(error.key)", error.message)
        } catch {
            throw ConfigurationError(key: name, "\(error)")
        }
    }
}
