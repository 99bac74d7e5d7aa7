import CInflate
#if canImport(Glibc)
import Glibc
#endif

/// Gzip bodies (RFC 1952, one member or several concatenated), inflated by zlib under a size
/// limit: a gzip bomb costs at most `limit` bytes of memory. The only Swift code that touches the
/// C target.
///
/// ```swift
/// let text = try Gzip.inflate(body, limit: 16 << 20)
/// ```
public enum Gzip {
    /// Why a body could not be inflated.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The output would exceed the limit.
        case tooLarge
        /// Not gzip, a bad checksum, or bytes after the last member that are not gzip.
        case corrupt
        /// The input ends inside a member (no trailer).
        case truncated
        /// zlib could not allocate its state or the output buffer.
        case noMemory

        /// A short English explanation of the failure.
        public var description: String {
            switch self {
            case .tooLarge: "the inflated body is over the limit"
            case .corrupt: "the body is not valid gzip"
            case .truncated: "the gzip body ends before its last member does"
            case .noMemory: "out of memory inflating the body"
            }
        }
    }

    /// Inflates every member of `compressed`, trailers checked, up to `limit` bytes.
    public static func inflate(_ compressed: UnsafeRawBufferPointer, limit: Int) throws(Failure) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var length = 0
        let result = tb_gunzip(compressed.baseAddress?.assumingMemoryBound(to: UInt8.self), compressed.count, max(0, limit), &out, &length)
        defer { free(out) }
        switch result {
        case Int32(TB_GUNZIP_OK): return out.map { Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []
        case Int32(TB_GUNZIP_TOO_LARGE): throw .tooLarge
        case Int32(TB_GUNZIP_TRUNCATED): throw .truncated
        case Int32(TB_GUNZIP_NO_MEMORY): throw .noMemory
        default: throw .corrupt
        }
    }

    /// Inflates `compressed` (see ``inflate(_:limit:)-(UnsafeRawBufferPointer,_)``), in place when
    /// its bytes are contiguous (an array, a NIO `ByteBufferView`), else from a copy.
    public static func inflate<Bytes: Collection<UInt8>>(_ compressed: Bytes, limit: Int) throws(Failure) -> [UInt8] {
        let inPlace: Result<[UInt8], Failure>? = compressed.withContiguousStorageIfAvailable { buffer in
            do throws(Failure) { return .success(try inflate(UnsafeRawBufferPointer(buffer), limit: limit)) } catch { return .failure(error) }
        }
        if let inPlace { return try inPlace.get() }
        return try inflate(Array(compressed), limit: limit)
    }
}
