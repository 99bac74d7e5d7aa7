/// RFC 3339 timestamps as microseconds since the Unix epoch, without Foundation formatters
/// (they are slow and locale-sensitive).
public enum Timestamp {
    /// Parses `2025-12-26T10:30:00Z`, `2025-12-26T10:30:00.123456+02:00`, lower-case `t`/`z`, or a
    /// space instead of `T`. Returns nil for anything else.
    public static func parseRFC3339(_ text: String) -> Int64? {
        var utf8 = Array(text.utf8)
        guard utf8.count >= 20 else { return nil }
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= utf8.count else { return nil }
            var value = 0
            for i in start..<(start + count) {
                let d = Int(utf8[i]) - 48
                guard d >= 0 && d <= 9 else { return nil }
                value = value * 10 + d
            }
            return value
        }
        for i in utf8.indices where utf8[i] == UInt8(ascii: "t") || utf8[i] == UInt8(ascii: "z") { utf8[i] -= 32 }
        guard let year = digits(0, 4), utf8[4] == UInt8(ascii: "-"), let month = digits(5, 2),
              utf8[7] == UInt8(ascii: "-"), let day = digits(8, 2),
              utf8[10] == UInt8(ascii: "T") || utf8[10] == UInt8(ascii: " "),
              let hour = digits(11, 2), utf8[13] == UInt8(ascii: ":"), let minute = digits(14, 2),
              utf8[16] == UInt8(ascii: ":"), let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
              hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        var micros = 0
        if index < utf8.count, utf8[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 100_000
            let start = index
            while index < utf8.count, utf8[index] >= 48, utf8[index] <= 57 {
                micros += Int(utf8[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < utf8.count else { return nil }
        var offsetSeconds = 0
        if utf8[index] == UInt8(ascii: "Z") {
            index += 1
        } else if utf8[index] == UInt8(ascii: "+") || utf8[index] == UInt8(ascii: "-") {
            let sign = utf8[index] == UInt8(ascii: "-") ? -1 : 1
            guard let oh = digits(index + 1, 2), index + 3 < utf8.count, utf8[index + 3] == UInt8(ascii: ":"),
                  let om = digits(index + 4, 2), oh < 24, om < 60 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            index += 6
        } else {
            return nil
        }
        guard index == utf8.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offsetSeconds)
        return seconds * 1_000_000 + Int64(micros)
    }

    /// Formats microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`. Total over `Int64`:
    /// the far past and future (a device's garbage timestamp) format without trapping.
    public static func formatRFC3339(micros: Int64) -> String {
        let (seconds, fraction) = floorDivision(micros, 1_000_000)
        let (days, secondOfDayWide) = floorDivision(seconds, 86_400)
        let secondOfDay = Int(secondOfDayWide)
        let (y, m, d) = civilFromDays(Int(days))
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(Int(fraction), 6))Z"
    }

    /// The UTC day number (days since 1970-01-01) of a timestamp in microseconds; total over `Int64`.
    public static func dayNumber(micros: Int64) -> Int {
        Int(floorDivision(floorDivision(micros, 1_000_000).quotient, 86_400).quotient)
    }

    /// The start of the UTC minute holding `micros`, in seconds since the epoch; total over `Int64`.
    public static func minuteStartSeconds(micros: Int64) -> Int64 {
        floorDivision(floorDivision(micros, 1_000_000).quotient, 60).quotient * 60
    }

    /// Division rounding towards negative infinity with a remainder in `0..<divisor`, without the
    /// `x - (divisor - 1)` adjustment that overflows near `Int64.min`.
    @inlinable
    public static func floorDivision(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let (q, r) = value.quotientAndRemainder(dividingBy: divisor)
        return r < 0 ? (q - 1, r + divisor) : (q, r)
    }

    /// `(year, month, day)` of a UTC day number.
    public static func civil(dayNumber: Int) -> (year: Int, month: Int, day: Int) { civilFromDays(dayNumber) }

    /// The number of days in `month` (1…12) of `year` (proleptic Gregorian).
    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Howard Hinnant's days_from_civil.
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
