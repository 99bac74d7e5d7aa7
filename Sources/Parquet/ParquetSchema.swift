import Compression
import SystemPackage

/// A leaf column of a flat Parquet schema.
public struct ParquetColumn: Sendable, Equatable {
    /// The column's values and how readers see them.
    public enum Kind: Sendable, Equatable {
        /// UTF-8 text: BYTE_ARRAY, logical type STRING.
        case string
        /// A signed 64-bit integer: INT64.
        case int64
        /// An IEEE 754 double: DOUBLE.
        case double
        /// Microseconds since the Unix epoch, UTC: INT64, logical type TIMESTAMP(MICROS, UTC).
        case timestampMicros
    }

    /// The column's name.
    public let name: String
    /// Its type.
    public let kind: Kind
    /// Whether a value may be missing (OPTIONAL, with definition levels); only strings may.
    public let nullable: Bool

    /// A column; `nullable` is honoured for strings only (the other kinds are REQUIRED).
    public init(_ name: String, _ kind: Kind, nullable: Bool = false) {
        self.name = name
        self.kind = kind
        self.nullable = nullable && kind == .string
    }
}

/// Page compression.
public enum ParquetCompression: String, Sendable, CaseIterable {
    /// No compression.
    case uncompressed
    /// Snappy raw blocks (libsnappy).
    case snappy
    /// ZSTD frames (libzstd).
    case zstd

    var codec: Int32 {
        switch self {
        case .uncompressed: 0
        case .snappy: 1
        case .zstd: 6
        }
    }
}

/// How a file is written.
public struct ParquetOptions: Sendable {
    /// Page compression.
    public var compression: ParquetCompression
    /// ZSTD's level (1 … 19).
    public var zstdLevel: Int32
    /// Values per data page at most (a page is the unit a reader decompresses).
    public var pageRows: Int
    /// Columns (by index) each row group is sorted by, ascending, recorded in its metadata.
    public var sortingColumns: [Int]
    /// The footer's `created_by`.
    public var createdBy: String
    /// The footer's key/value metadata, in order.
    public var keyValueMetadata: [(key: String, value: String)]
    /// A text column chunk whose distinct values exceed this many bytes is written PLAIN
    /// instead of dictionary-encoded (default 64 MiB).
    public var dictionaryLimitBytes: Int

    /// ZSTD at level 3, pages of 65 536 values, no sorting recorded.
    public init(compression: ParquetCompression = .zstd, zstdLevel: Int32 = 3, pageRows: Int = 65_536,
                sortingColumns: [Int] = [], createdBy: String = "telemetry-parquet version 1.0.0",
                keyValueMetadata: [(key: String, value: String)] = [], dictionaryLimitBytes: Int = 64 << 20) {
        self.compression = compression
        self.zstdLevel = zstdLevel
        self.pageRows = max(1, pageRows)
        self.sortingColumns = sortingColumns
        self.createdBy = createdBy
        self.keyValueMetadata = keyValueMetadata
        self.dictionaryLimitBytes = dictionaryLimitBytes
    }
}

/// Where a file's bytes go, in order: the writer's only I/O.
public protocol ParquetSink: AnyObject {
    /// Appends `bytes`.
    func write(_ bytes: [UInt8]) throws
}

/// Bytes in memory (tests, small files).
public final class ParquetMemorySink: ParquetSink {
    /// Everything written so far.
    public private(set) var bytes: [UInt8] = []
    /// An empty sink.
    public init() {}
    /// Appends `bytes`.
    public func write(_ bytes: [UInt8]) { self.bytes.append(contentsOf: bytes) }
}

/// An open file descriptor, written in order (the caller opens, syncs and closes it).
public final class ParquetFileSink: ParquetSink {
    /// The descriptor written to.
    public let descriptor: FileDescriptor
    /// Bytes written so far.
    public private(set) var written: Int64 = 0
    /// A sink appending to `descriptor`.
    public init(descriptor: FileDescriptor) { self.descriptor = descriptor }
    /// Writes all of `bytes` (retrying short writes).
    public func write(_ bytes: [UInt8]) throws {
        _ = try descriptor.writeAll(bytes)
        written += Int64(bytes.count)
    }
}

/// Why a file could not be written.
public enum ParquetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A row group's columns do not match the schema (count, kind or length).
    case schemaMismatch(String)
    /// The writer is closed.
    case closed
    /// A page could not be compressed.
    case compression(String)
    /// A page would be 2 GiB or more (fewer rows per page or row group, or shorter values).
    case pageTooLarge(column: String, bytes: Int)

    /// A short English explanation.
    public var description: String {
        switch self {
        case .schemaMismatch(let detail): "row group does not match the schema: \(detail)"
        case .closed: "the Parquet writer is closed"
        case .compression(let detail): "page compression failed: \(detail)"
        case .pageTooLarge(let column, let bytes): "a page of column \(column) would be \(bytes) bytes (at most 2 GiB)"
        }
    }
}

/// A string column of one row group, dictionary-coded as it is filled: each distinct value is
/// kept once. Consecutive equal values (the lake's rows are sorted) cost one comparison.
public struct ParquetStrings: Sendable {
    /// The distinct values, in order of first appearance.
    public private(set) var dictionary: [[UInt8]] = []
    /// Each row's index into ``dictionary``; -1 is a missing value.
    public private(set) var indices: [Int32] = []
    private var lookup: [[UInt8]: Int32] = [:]
    private var last: Int32 = -1

    /// An empty column with room for `capacity` rows.
    public init(capacity: Int = 0) { indices.reserveCapacity(capacity) }

    /// The number of rows.
    public var count: Int { indices.count }
    /// The number of missing values.
    public var nullCount: Int { indices.reduce(0) { $0 + ($1 < 0 ? 1 : 0) } }

    /// Appends one value.
    public mutating func append(_ value: ArraySlice<UInt8>) {
        // The common case in sorted rows: the same value as the row before (compared as concrete
        // slices, so the loop is specialised, not run through generic witnesses).
        if last >= 0 {
            let known = dictionary[Int(last)]
            if known.count == value.count && known[...] == value {
                indices.append(last)
                return
            }
        }
        let key = Array(value)
        if let index = lookup[key] {
            last = index
        } else {
            last = Int32(dictionary.count)
            dictionary.append(key)
            lookup[key] = last
        }
        indices.append(last)
    }

    /// Appends one value.
    public mutating func append(_ value: [UInt8]) { append(value[...]) }

    /// Appends one value from any collection of bytes.
    public mutating func append<Bytes: Collection<UInt8>>(_ value: Bytes) { append(Array(value)[...]) }

    /// Appends one value given as a Swift string (its UTF-8 bytes).
    public mutating func append(_ value: String) { append(value.utf8) }

    /// Appends a missing value (for a nullable column).
    public mutating func appendNull() { indices.append(-1) }
}

/// One column of a row group.
public enum ParquetColumnData: Sendable {
    /// For `.string` columns.
    case strings(ParquetStrings)
    /// For `.int64` and `.timestampMicros` columns.
    case int64([Int64])
    /// For `.double` columns.
    case double([Double])

    /// The number of rows.
    public var count: Int {
        switch self {
        case .strings(let s): s.count
        case .int64(let v): v.count
        case .double(let v): v.count
        }
    }
}

/// What a closed file holds.
public struct ParquetFileSummary: Sendable, Equatable {
    /// Rows in every row group.
    public let rows: Int64
    /// Row groups.
    public let rowGroups: Int
    /// The file's length in bytes.
    public let bytes: Int64
}
