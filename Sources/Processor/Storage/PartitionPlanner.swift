import TelemetryCore

/// What the partition task must do now.
package struct PartitionPlan: Sendable, Equatable {
    /// UTC day numbers (days since 1970-01-01) whose partition must be created.
    package var create: [Int]
    /// Partition tables to drop (past retention).
    package var drop: [String]
}

/// Decides which day partitions of `samples` to create ahead and which to drop, from the current
/// day and the partitions that exist. Pure: the clock is the caller's.
package enum PartitionPlanner {
    /// `samples_pYYYYMMDD` for a UTC day number.
    package static func name(day: Int) -> String {
        let (y, m, d) = Timestamp.civil(dayNumber: day)
        func pad(_ v: Int, _ w: Int) -> String { String(repeating: "0", count: max(0, w - String(v).count)) + String(v) }
        return "samples_p\(pad(y, 4))\(pad(m, 2))\(pad(d, 2))"
    }

    /// The UTC day number of a partition name, nil for other tables.
    package static func day(of name: String) -> Int? {
        guard name.hasPrefix("samples_p"), name.count == 17 else { return nil }
        let digits = Array(name.dropFirst(9))
        guard digits.allSatisfy(\.isNumber), let y = Int(String(digits[0..<4])), let m = Int(String(digits[4..<6])),
              let d = Int(String(digits[6..<8])) else { return nil }
        return Timestamp.daysFromCivil(year: y, month: m, day: d)
    }

    /// `yyyy-mm-dd` of a UTC day number.
    package static func date(day: Int) -> String {
        let n = name(day: day).dropFirst(9)
        return "\(n.prefix(4))-\(n.dropFirst(4).prefix(2))-\(n.suffix(2))"
    }

    /// Today and `aheadDays` days after it are created when missing; a partition whose whole day
    /// is older than `retentionDays` before today is dropped.
    package static func plan(today: Int, aheadDays: Int, retentionDays: Int, existing: [String]) -> PartitionPlan {
        let existingDays = Dictionary(existing.compactMap { n in day(of: n).map { ($0, n) } }, uniquingKeysWith: { a, _ in a })
        let create = (today...(today + aheadDays)).filter { existingDays[$0] == nil }
        let drop = existingDays.filter { $0.key < today - retentionDays }.sorted { $0.key < $1.key }.map(\.value)
        return PartitionPlan(create: create, drop: drop)
    }
}
