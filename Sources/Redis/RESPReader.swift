import CHiredis
import CRedisReader

/// Replies from raw RESP bytes, read by hiredis's reader exactly as a connection reads them:
/// for tests and the fuzzer, which feed it bytes no server would send.
public enum RESPReader {
    /// The complete replies at the start of `bytes`, at most `max`; an incomplete last reply is
    /// left out. Throws `protocolError` when the bytes are not RESP.
    public static func replies(_ bytes: [UInt8], max: Int = .max) throws(RedisError) -> [RESPValue] {
        guard let reader = redisReaderCreate() else { throw RedisError(.protocolError, "cannot create a RESP reader") }
        defer { redisReaderFree(reader) }
        telemetry_redis_reader_limit(reader)
        let fed = bytes.withUnsafeBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, $0.count) }
        }
        guard fed == REDIS_OK else { throw RedisError(.protocolError, "the reader refused the bytes") }
        var replies: [RESPValue] = []
        while replies.count < max {
            var raw: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
                let message = RedisConnection.readerError(reader.pointee.err, reader.pointee.errstr)
                throw RedisError(.protocolError, message.isEmpty ? "not RESP" : message)
            }
            guard let raw else { break }
            replies.append(RedisConnection.convert(raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return replies
    }
}
