import CSnappy
import CZstd

/// Block compression for the Parquet lake's pages: ZSTD (libzstd) and Snappy (libsnappy), one
/// buffer in, one buffer out. The only Swift code that touches the two C libraries.
///
/// ```swift
/// let zstd = try ZstdCompressor(level: 3)
/// let packed = try zstd.compress(page)
/// let page2 = try Zstd.decompress(packed, size: page.count)
/// ```
public enum CompressionFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The library refused the input or could not allocate; the message is its own.
    case failed(String)
    /// The output is not the size the caller said it would be (a corrupt or foreign buffer).
    case sizeMismatch(expected: Int, actual: Int)

    /// A short English explanation of the failure.
    public var description: String {
        switch self {
        case .failed(let message): message
        case .sizeMismatch(let expected, let actual): "decompressed \(actual) bytes, expected \(expected)"
        }
    }
}

/// A ZSTD compression context, reused from one buffer to the next (a context is costly to set
/// up). Not thread-safe: one per writer.
public final class ZstdCompressor {
    private let context: OpaquePointer
    /// The compression level (1 fastest … 19 smallest; 3 is zstd's default).
    public let level: Int32

    /// A context compressing at `level`, clamped to what the library supports.
    public init(level: Int32 = 3) throws(CompressionFailure) {
        guard let context = ZSTD_createCCtx() else { throw .failed("ZSTD_createCCtx: out of memory") }
        self.context = context
        self.level = min(max(level, 1), ZSTD_maxCLevel())
    }

    deinit { ZSTD_freeCCtx(context) }

    /// One ZSTD frame holding `input` (with its content size, as Parquet readers expect).
    public func compress(_ input: [UInt8]) throws(CompressionFailure) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { source in
                ZSTD_compressCCtx(context, out.baseAddress, bound, source.baseAddress, source.count, level)
            }
        }
        if ZSTD_isError(written) != 0 { throw .failed(String(cString: ZSTD_getErrorName(written))) }
        output.removeSubrange(written...)
        return output
    }
}

/// ZSTD decompression (tests and readers of the lake's own files).
public enum Zstd {
    /// Decompresses one frame of exactly `size` bytes.
    public static func decompress(_ input: [UInt8], size: Int) throws(CompressionFailure) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: max(size, 0))
        let read = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { source in ZSTD_decompress(out.baseAddress, out.count, source.baseAddress, source.count) }
        }
        if ZSTD_isError(read) != 0 { throw .failed(String(cString: ZSTD_getErrorName(read))) }
        guard read == size else { throw .sizeMismatch(expected: size, actual: read) }
        return output
    }
}

/// Snappy raw blocks (the framing Parquet uses: no stream header).
public enum Snappy {
    /// One raw Snappy block holding `input`.
    public static func compress(_ input: [UInt8]) throws(CompressionFailure) -> [UInt8] {
        var length = snappy_max_compressed_length(input.count)
        var output = [UInt8](repeating: 0, count: length)
        let status = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { source in
                snappy_compress(source.baseAddress?.assumingMemoryBound(to: CChar.self), source.count,
                                out.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
            }
        }
        guard status == SNAPPY_OK else { throw .failed("snappy_compress failed (\(status.rawValue))") }
        output.removeSubrange(length...)
        return output
    }

    /// Decompresses one raw block of exactly `size` bytes.
    public static func decompress(_ input: [UInt8], size: Int) throws(CompressionFailure) -> [UInt8] {
        var length = max(size, 0)
        var output = [UInt8](repeating: 0, count: length)
        let status = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { source in
                snappy_uncompress(source.baseAddress?.assumingMemoryBound(to: CChar.self), source.count,
                                  out.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
            }
        }
        guard status == SNAPPY_OK else { throw .failed("snappy_uncompress failed (\(status.rawValue))") }
        guard length == size else { throw .sizeMismatch(expected: size, actual: length) }
        return output
    }
}
