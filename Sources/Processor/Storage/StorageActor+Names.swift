import Logging
import Postgres
import TelemetryCore

/// The name cache: device and metric names resolved to ids, new ones inserted (metric names up to
/// `validation.max_metric_names`).
extension StorageActor {
    /// Looks up the ids of `names` in `table` (`devices` or `metrics`) into `cache`, inserting the
    /// unknown ones; returns the names refused because `table` already holds `limit` names.
    ///
    /// Names are looked up first and only missing ones inserted, so no identity value is burned
    /// for a name that exists. With a `limit`, the count and the insert run in a transaction of
    /// their own under an advisory lock, so processors admitting names at once never exceed it.
    @discardableResult
    func resolve(names: [String], table: String, cache: inout [String: Int32], limit: Int?,
                         _ pg: PostgresConnection) throws(PostgresError) -> Set<String> {
        func lookup(_ names: [String]) throws(PostgresError) {
            for row in try pg.query("SELECT id, name FROM \(table) WHERE name = ANY($1::text[])", [PostgresText.array(names)]).rows {
                if let id = row[0].flatMap({ Int32($0) }), let name = row[1] { cache[name] = id }
            }
        }
        let missing = names.filter { cache[$0] == nil }
        guard !missing.isEmpty else { return [] }
        try lookup(missing)
        var unknown = missing.filter { cache[$0] == nil }
        guard !unknown.isEmpty else { return [] }
        guard let limit else {
            try pg.query("INSERT INTO \(table) (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING", [PostgresText.array(unknown)])
            try lookup(unknown)
            return Set(unknown.filter { cache[$0] == nil })
        }
        try pg.execute("BEGIN")
        do throws(PostgresError) {
            try pg.query("SELECT pg_advisory_xact_lock(hashtext($1))", ["telemetry_names_\(table)"])
            try lookup(unknown)  // another processor may have added some meanwhile
            unknown = unknown.filter { cache[$0] == nil }
            let count = Int(try pg.execute("SELECT count(*) FROM \(table)").rows.first?[0] ?? "") ?? 0
            let admitted = Array(unknown.sorted().prefix(max(0, limit - count)))
            if !admitted.isEmpty {
                try pg.query("INSERT INTO \(table) (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING", [PostgresText.array(admitted)])
            }
            try pg.execute("COMMIT")
        } catch {
            if pg.isUsable { _ = try? pg.execute("ROLLBACK") }
            throw error
        }
        try lookup(unknown)
        let refused = Set(unknown.filter { cache[$0] == nil })
        if !refused.isEmpty {
            logger.warning("new metric names refused: the deployment holds validation.max_metric_names names",
                           metadata: ["refused": "\(refused.count)", "limit": "\(limit)", "first": "\(PrintableName(refused.sorted()[0]))"])
        }
        return refused
    }

    /// Looks up the ids of `devices` into ``deviceIDs`` (and their tenants' into ``tenantIDs``),
    /// inserting the unknown ones. Devices are unique per tenant: one name in two tenants is two
    /// devices (Docs/tenants.md).
    func resolveDevices(_ devices: Set<DeviceKey>, _ pg: PostgresConnection) throws(PostgresError) {
        let missing = devices.filter { deviceIDs[$0] == nil }
        guard !missing.isEmpty else { return }
        // Per tenant, in name order: processors inserting the same new names lock them in one order.
        let byTenant = Dictionary(grouping: missing, by: \.tenant)
        for tenant in byTenant.keys.sorted(by: { ($0 ?? "") < ($1 ?? "") }) {
            let name = tenant ?? defaultTenant
            let tenantID = try resolveTenant(name, pg)
            let names = byTenant[tenant]!.map(\.name).sorted()
            func lookup(_ names: [String]) throws(PostgresError) {
                let rows = try pg.query("SELECT id, name FROM devices WHERE tenant_id = $1::int AND name = ANY($2::text[])",
                                        [String(tenantID), PostgresText.array(names)]).rows
                for row in rows {
                    if let id = row[0].flatMap({ Int32($0) }), let device = row[1] { deviceIDs[DeviceKey(tenant: tenant, name: device)] = id }
                }
            }
            try lookup(names)
            let unknown = names.filter { deviceIDs[DeviceKey(tenant: tenant, name: $0)] == nil }
            guard !unknown.isEmpty else { continue }
            try pg.query("INSERT INTO devices (tenant_id, name) SELECT $1::int, unnest($2::text[]) ON CONFLICT (tenant_id, name) DO NOTHING",
                         [String(tenantID), PostgresText.array(unknown)])
            try lookup(unknown)
        }
    }

    /// The id of tenant `name`, inserting its row on first use (no identity value is burned for
    /// a tenant that exists).
    func resolveTenant(_ name: String, _ pg: PostgresConnection) throws(PostgresError) -> Int32 {
        if let id = tenantIDs[name] { return id }
        try pg.query("INSERT INTO tenants (name) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM tenants WHERE name = $1) ON CONFLICT (name) DO NOTHING", [name])
        guard let id = try pg.query("SELECT id FROM tenants WHERE name = $1", [name]).rows.first?[0].flatMap({ Int32($0) }) else {
            throw PostgresError(.server, "tenants has no row for \(PrintableName(name))")
        }
        tenantIDs[name] = id
        return id
    }

    /// Records the unit of each declared metric (`metrics.<name>.unit`), creating the metric's
    /// row if it has none yet; an empty unit leaves the stored one alone.
    package func declare(units: [String: String]) throws(PostgresError) {
        let pg = try live()
        for (name, unit) in units.sorted(by: { $0.key < $1.key }) {
            // Inserted only when missing, so no identity value is burned at each start (as in
            // resolve(names:)); then the unit, when one is given.
            try pg.query("""
                INSERT INTO metrics (name, unit) SELECT $1, NULLIF($2, '')
                WHERE NOT EXISTS (SELECT 1 FROM metrics WHERE name = $1) ON CONFLICT (name) DO NOTHING
                """, [name, unit])
            if !unit.isEmpty {
                try pg.query("UPDATE metrics SET unit = $2 WHERE name = $1 AND unit IS DISTINCT FROM $2", [name, unit])
            }
        }
    }
}
