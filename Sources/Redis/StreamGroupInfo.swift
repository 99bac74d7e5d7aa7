/// One consumer group's entry in an `XINFO GROUPS` reply.
public struct StreamGroupInfo: Sendable, Equatable {
    public var name: String
    public var pending: Int
    /// Entries not yet delivered to the group (Redis ≥ 7; 0 when the server does not say).
    public var lag: Int

    /// Parses an `XINFO GROUPS` reply (a list of flat field/value lists) and returns `group`'s entry.
    public static func find(_ group: String, in reply: RESPValue) -> StreamGroupInfo? {
        for entry in reply.array ?? [] {
            let fields = entry.array ?? []
            var values: [String: RESPValue] = [:]
            var i = 0
            while i + 1 < fields.count {
                if let key = fields[i].string { values[key] = fields[i + 1] }
                i += 2
            }
            guard values["name"]?.string == group else { continue }
            return StreamGroupInfo(name: group, pending: values["pending"]?.int ?? 0, lag: values["lag"]?.int ?? 0)
        }
        return nil
    }
}
