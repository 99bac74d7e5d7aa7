import Foundation
import SystemSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Unix socket client")
struct UnixSocketTests {
    /// Serves one connection on a fresh socket path: sends `reply`, then closes.
    static func serveOnce(_ reply: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("us-\(UInt32.random(in: 0...UInt32.max)).sock").path
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 1) == 0 else { throw SystemError.last("bind", path: path) }
        Thread.detachNewThread {
            let connection = accept(listener, nil, nil)
            var sent = 0
            while sent < reply.count {
                let n = reply.withUnsafeBytes { write(connection, $0.baseAddress! + sent, reply.count - sent) }
                if n <= 0 { break }
                sent += n
            }
            close(connection)
            close(listener)
            unlink(path)
        }
        return path
    }

    @Test("receiveAll returns a reply of exactly the limit, and refuses one byte more instead of cutting it", arguments: [1, 16_384, 100_000])
    func limit(size: Int) throws {
        let exact = [UInt8](repeating: 7, count: size)
        let whole = try UnixSocket(connectingTo: Self.serveOnce(exact), timeoutSeconds: 5).receiveAll(limit: size)
        #expect(whole == exact)
        // Found by review: the limit was checked before each 16 KiB read only, so up to
        // limit + 16 383 bytes came back, and a longer reply was cut without an error.
        #expect(throws: SystemError.self) {
            try UnixSocket(connectingTo: Self.serveOnce(exact + [8]), timeoutSeconds: 5).receiveAll(limit: size)
        }
    }
}
