import Configuration
import Parquet
import TelemetryConfiguration

/// The Parquet lake's settings (section `lake`, Docs/lake.md). With no `path` the processor
/// runs no exporter; `telemetryctl lake export` still works when given one.
package struct LakeConfiguration: Sendable, Equatable {
    /// `path` (`LAKE_PATH`), empty: the lake's root; `samples/year=…/month=…/day=…/` below it.
    package var path: String
    /// `delay_s` (`LAKE_DELAY_S`), default 3600: a UTC day is exported this long after it ends.
    package var delaySeconds: Int
    /// `interval_s` (`LAKE_INTERVAL_S`), default 60: how often the exporter looks for due days.
    package var intervalSeconds: Int
    /// `compression` (`LAKE_COMPRESSION`), default `zstd`: `zstd`, `snappy` or `uncompressed`.
    package var compression: ParquetCompression
    /// `zstd_level` (`LAKE_ZSTD_LEVEL`), default 3.
    package var zstdLevel: Int
    /// `row_group_rows` (`LAKE_ROW_GROUP_ROWS`), default 1 000 000: rows per row group (the unit
    /// a reader skips with the statistics; the exporter holds one in memory, ~40 bytes a row).
    package var rowGroupRows: Int
    /// `page_rows` (`LAKE_PAGE_ROWS`), default 65 536: values per data page.
    package var pageRows: Int

    package var enabled: Bool { !path.isEmpty }

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        path = try config.strictString("path", default: "")
        delaySeconds = try config.strictInt("delay_s", default: 3600, in: 0...(30 * 86_400))
        intervalSeconds = try config.strictInt("interval_s", default: 60, in: 1...86_400)
        let codec = try config.strictString("compression", default: "zstd", choices: ParquetCompression.allCases.map(\.rawValue))
        compression = ParquetCompression(rawValue: codec) ?? .zstd
        zstdLevel = try config.strictInt("zstd_level", default: 3, in: 1...19)
        rowGroupRows = try config.strictInt("row_group_rows", default: 1_000_000, in: 1_000...50_000_000)
        pageRows = try config.strictInt("page_rows", default: 65_536, in: 1_000...10_000_000)
    }

    package init(path: String, delaySeconds: Int = 3600, intervalSeconds: Int = 60, compression: ParquetCompression = .zstd,
                 zstdLevel: Int = 3, rowGroupRows: Int = 1_000_000, pageRows: Int = 65_536) {
        self.path = path
        self.delaySeconds = delaySeconds
        self.intervalSeconds = intervalSeconds
        self.compression = compression
        self.zstdLevel = zstdLevel
        self.rowGroupRows = rowGroupRows
        self.pageRows = pageRows
    }
}
