/// Text encodings for libpq text parameters.
public enum PostgresText {
    /// A PostgreSQL array literal, every element quoted.
    public static func array(_ elements: [String]) -> String {
        var out = "{"
        out.reserveCapacity(elements.reduce(2) { $0 + $1.utf8.count + 3 })
        for (i, e) in elements.enumerated() {
            if i > 0 { out += "," }
            out += "\""
            // Most elements (numbers, names) need no escape: appended whole, not scalar by scalar.
            if e.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                for ch in e.unicodeScalars {
                    if ch == "\"" || ch == "\\" { out += "\\" }
                    out.unicodeScalars.append(ch)
                }
            } else {
                out += e
            }
            out += "\""
        }
        return out + "}"
    }
}
