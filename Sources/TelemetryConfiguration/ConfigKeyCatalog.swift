import Configuration
import Synchronization
import Yams

/// One configuration key as a component read it: its full name, the value in force (the default
/// when nothing set it) and what it expects.
public struct ConfigKeyInfo: Sendable, Hashable {
    /// The full key (`spool.max_bytes`).
    public let key: String
    /// The value the reader returned: the default unless a flag, the environment or the file set it.
    public let value: String
    /// The default written in the code.
    public let defaultValue: String
    /// What a value must be (`an integer in 1…65535`, `one of block, drop_oldest`, …).
    public let expected: String

    /// The environment variable that sets the key (`SPOOL_MAX_BYTES`).
    public var environmentName: String {
        String(key.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 })
    }

    /// The command-line flag that sets the key (`--spool-max_bytes`).
    public var flag: String { "--" + key.replacingOccurrences(of: ".", with: "-") }

    /// Whether the value is a secret, masked when printed (tokens, passwords, URLs with credentials).
    public var isSecret: Bool {
        let lowered = key.lowercased()
        return lowered.hasSuffix("token") || lowered.contains("password") || lowered.hasSuffix(".url")
    }

    /// Creates the record of one key.
    public init(key: String, value: String, defaultValue: String, expected: String) {
        self.key = key
        self.value = value
        self.defaultValue = defaultValue
        self.expected = expected
    }
}

/// The keys the strict readers were asked for while ``ConfigKeyCatalog/recording(_:)`` ran: the
/// daemons list them in `--help`, print them in `check-config`, and refuse a file key that no
/// component reads (a typo must not be silently ignored).
public enum ConfigKeyCatalog {
    /// The section path of the reader in use (``ConfigReader/section(_:_:)`` pushes onto it).
    @TaskLocal static var sectionPath = ""
    /// Where the keys go while recording; nil otherwise (nothing is recorded).
    @TaskLocal static var recorder: Recorder?

    final class Recorder: Sendable {
        let keys = Mutex<[String: ConfigKeyInfo]>([:])
    }

    /// Runs `body` (which reads a daemon's configuration) and returns its result with every key it
    /// read, sorted by key.
    public static func recording<T>(_ body: () throws -> T) rethrows -> (T, [ConfigKeyInfo]) {
        let recorder = Recorder()
        let result = try $recorder.withValue(recorder) { try body() }
        return (result, recorder.keys.withLock { $0.values.sorted { $0.key < $1.key } })
    }

    /// Records `key` (relative to the current section) when a recording runs.
    static func record(_ key: String, value: String, default defaultValue: String, expected: String) {
        guard let recorder else { return }
        let full = sectionPath.isEmpty ? key : "\(sectionPath).\(key)"
        recorder.keys.withLock { $0[full] = ConfigKeyInfo(key: full, value: value, defaultValue: defaultValue, expected: expected) }
    }

    /// The full key of `key` read in the current section.
    static func fullKey(_ key: String) -> String { sectionPath.isEmpty ? key : "\(sectionPath).\(key)" }

    /// The keys a YAML document sets, as dotted paths to its scalars and sequences
    /// (`spool: {max_bytes: 1}` → `spool.max_bytes`); a null sets nothing. Throws when the text
    /// is not YAML.
    public static func keys(inYAML text: String) throws -> [String] {
        guard let root = try Yams.compose(yaml: text) else { return [] }
        var keys: [String] = []
        func walk(_ node: Node, _ path: String) {
            if let mapping = node.mapping {
                for (key, value) in mapping {
                    let name = key.string ?? "\(key)"
                    walk(value, path.isEmpty ? name : "\(path).\(name)")
                }
            } else if let scalar = node.scalar, scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                // A null (`buses:` with everything under it commented out) sets nothing.
                return
            } else if !path.isEmpty {
                keys.append(path)
            }
        }
        walk(root, "")
        return keys.sorted()
    }

    /// The keys of `file` that no component read (typos, keys of another daemon, or of a feature
    /// not configured), each with the closest key that is read when one is near.
    public static func unknownKeys(in file: [String], known: [ConfigKeyInfo]) -> [(key: String, suggestion: String?)] {
        let names = Set(known.map(\.key))
        return file.filter { !names.contains($0) }.map { ($0, closest(to: $0, in: names)) }
    }

    /// The known key nearest to `key` by edit distance, when it is near enough to be a typo.
    public static func closest(to key: String, in known: some Collection<String>) -> String? {
        let scored = known.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        guard let (best, distance) = scored, distance <= max(2, key.count / 4) else { return nil }
        return best
    }

    /// Levenshtein distance over Unicode scalars.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
