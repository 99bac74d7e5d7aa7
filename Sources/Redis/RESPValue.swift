/// A reply from Redis (RESP2).
public enum RESPValue: Sendable, Equatable {
    case null
    case status(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8])
    case array([RESPValue])

    /// The reply as text, for status and bulk replies.
    public var string: String? {
        switch self {
        case .status(let s): s
        case .bulk(let b): String(decoding: b, as: UTF8.self)
        default: nil
        }
    }

    /// The reply as an integer: an integer reply, or a bulk or status reply holding a decimal integer.
    public var int: Int? {
        switch self {
        case .integer(let i): i
        case .bulk, .status: string.flatMap { Int($0) }
        default: nil
        }
    }

    /// The elements of an array reply (a nil array is ``RESPValue/null``).
    public var array: [RESPValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The raw bytes of a bulk reply.
    public var bytes: [UInt8]? {
        if case .bulk(let b) = self { return b }
        return nil
    }
}

/// One command: its arguments as bytes, encoded once into RESP.
public struct RedisCommand: Sendable, ExpressibleByArrayLiteral {
    /// The command name and its arguments, each as raw bytes.
    public var arguments: [[UInt8]]

    /// A command from raw byte arguments (binary-safe).
    public init(_ arguments: [[UInt8]]) { self.arguments = arguments }
    /// A command from text arguments, sent as UTF-8.
    public init(_ arguments: [String]) { self.arguments = arguments.map { Array($0.utf8) } }
    /// A command written as a literal: `["XLEN", key]`.
    public init(arrayLiteral elements: String...) { self.init(elements) }

    /// Appends an argument.
    public mutating func append(_ argument: String) { arguments.append(Array(argument.utf8)) }
    /// Appends a binary argument as is.
    public mutating func append(bytes argument: [UInt8]) { arguments.append(argument) }

    /// Appends the RESP encoding of the command to `out`.
    func encode(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "*"))
        out.append(contentsOf: String(arguments.count).utf8)
        out.append(contentsOf: [13, 10])
        for argument in arguments {
            out.append(UInt8(ascii: "$"))
            out.append(contentsOf: String(argument.count).utf8)
            out.append(contentsOf: [13, 10])
            out.append(contentsOf: argument)
            out.append(contentsOf: [13, 10])
        }
    }
}
