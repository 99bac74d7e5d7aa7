import Postgres

/// Migrations 14 on: the data lifecycle (the Parquet lake's book, the change feed, alert
/// delivery, device silence, data quality). Docs/lake.md, Docs/change-feed.md, Docs/alerting.md.
extension Schema {
    static let lifecycle: [Migration] = [
        Migration(version: 14, name: "lake days", sql: """
            -- The Parquet lake's book (Docs/lake.md). Every storage transaction that stores rows of
            -- a UTC day already over counts one change on the day's row, in that transaction; an
            -- export records the count its snapshot saw. A day whose count moved since is exported
            -- again, so the lake equals the database for every exported day.
            CREATE TABLE lake_days (
                day date PRIMARY KEY,
                changes bigint NOT NULL DEFAULT 0,
                exported_changes bigint,
                exported_rows bigint,
                exported_bytes bigint,
                exported_at timestamptz,
                snapshot_at timestamptz,
                sha256 text
            );
            """),
        Migration(version: 15, name: "change feed", sql: """
            -- The change feed (Docs/change-feed.md): one publication over the data tables, day
            -- partitions published as samples (publish_via_partition_root), for a downstream
            -- PostgreSQL's CREATE SUBSCRIPTION. Creating it needs CREATE on the database; a role
            -- without it is told how to have it created.
            DO $do$
            BEGIN
                IF has_database_privilege(current_user, current_database(), 'CREATE') THEN
                    CREATE PUBLICATION telemetry_feed
                        FOR TABLE tenants, devices, metrics, samples, aggregates_1m, aggregates_1h, aggregates_1d, latest_values, alerts
                        WITH (publish_via_partition_root = true);
                ELSE
                    RAISE NOTICE 'no CREATE privilege on this database: create the publication telemetry_feed as Docs/change-feed.md says';
                END IF;
            END
            $do$;
            -- samples has no primary key: each day partition logs whole old rows, so an UPDATE or
            -- DELETE by hand is published instead of refused (inserts cost nothing more).
            DO $do$
            DECLARE
                part regclass;
            BEGIN
                FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'samples'::regclass LOOP
                    EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', part);
                END LOOP;
            END
            $do$;
            CREATE OR REPLACE FUNCTION telemetry_ensure_partition(day date) RETURNS boolean
            LANGUAGE plpgsql AS $fn$
            DECLARE
                part text := 'samples_p' || to_char(day, 'YYYYMMDD');
            BEGIN
                IF to_regclass(part) IS NOT NULL THEN RETURN false; END IF;
                PERFORM pg_advisory_xact_lock(hashtext('telemetry_partition_' || part));
                IF to_regclass(part) IS NOT NULL THEN RETURN false; END IF;
                EXECUTE format('CREATE TABLE %I PARTITION OF samples FOR VALUES FROM (%L) TO (%L)', part,
                    to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00', to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
                PERFORM telemetry_protect_partition(part::regclass);
                EXECUTE format('ALTER TABLE %I REPLICA IDENTITY FULL', part);
                RETURN true;
            EXCEPTION WHEN duplicate_table THEN
                RETURN false;
            END
            $fn$;
            """),
        Migration(version: 16, name: "alert delivery and device silence", sql: """
            -- Alerts are delivered through an outbox (Docs/alerting.md): every alert inserted, and
            -- every alert resolved, adds an event in the same transaction (a trigger, whoever
            -- writes). The deliverer keeps, per target, the last event it delivered.
            ALTER TABLE alerts ADD COLUMN resolved_at timestamptz;
            CREATE TABLE alert_events (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                alert_id bigint NOT NULL,
                kind text NOT NULL CHECK (kind IN ('firing', 'resolved')),
                created_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE alert_targets (
                target text PRIMARY KEY,
                delivered_through bigint NOT NULL,
                delivered_at timestamptz,
                attempts integer NOT NULL DEFAULT 0,
                last_error text);
            CREATE FUNCTION telemetry_alert_event() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO alert_events (alert_id, kind) VALUES (NEW.id, 'firing');
                ELSIF OLD.resolved_at IS NULL AND NEW.resolved_at IS NOT NULL THEN
                    INSERT INTO alert_events (alert_id, kind) VALUES (NEW.id, 'resolved');
                END IF;
                RETURN NULL;
            END
            $fn$;
            CREATE TRIGGER alerts_outbox AFTER INSERT OR UPDATE OF resolved_at ON alerts
                FOR EACH ROW EXECUTE FUNCTION telemetry_alert_event();
            -- Device silence (deadman): one row per device judged, with its open silence alert.
            CREATE TABLE device_health (
                device_id integer PRIMARY KEY,
                interval_s double precision,
                silent_alert_id bigint,
                last_ts timestamptz,
                checked_at timestamptz NOT NULL DEFAULT now());
            """),
        Migration(version: 17, name: "data quality", sql: """
            -- Per UTC hour, device and metric (Docs/alerting.md, "Data quality"): readings received
            -- against the number expected from the device's interval, and how late they were
            -- stored (ingested_at − ts). The current hour is updated as it goes.
            CREATE TABLE data_quality (
                hour timestamptz NOT NULL,
                device_id integer NOT NULL,
                metric_id integer NOT NULL,
                received bigint NOT NULL,
                expected double precision,
                completeness double precision,
                lateness_p50_s double precision,
                lateness_p99_s double precision,
                computed_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (hour, device_id, metric_id));
            -- Samples refused by validation, per hour, by the names they carried (a refused
            -- device may have no row in devices) and the reason.
            CREATE TABLE data_quality_rejections (
                hour timestamptz NOT NULL,
                device text NOT NULL,
                metric text NOT NULL,
                reason text NOT NULL,
                rejected bigint NOT NULL,
                PRIMARY KEY (hour, device, metric, reason));
            """),
        Migration(version: 18, name: "alert delivery per event, intervals per series", sql: """
            -- Events commit out of id order (two transactions, two alerts): a cursor by id could
            -- pass an event still uncommitted. Each delivery is recorded instead; since_id is
            -- the id below which every event is delivered and older than ten minutes.
            ALTER TABLE alert_targets RENAME COLUMN delivered_through TO since_id;
            CREATE TABLE alert_deliveries (
                event_id bigint NOT NULL,
                target text NOT NULL,
                delivered_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (target, event_id));
            -- An id receivers can deduplicate by that a restored database does not hand out again.
            ALTER TABLE alert_events ADD COLUMN uid uuid NOT NULL DEFAULT gen_random_uuid();
            -- A silence raised again on an alert row resolved before fires again.
            CREATE OR REPLACE FUNCTION telemetry_alert_event() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO alert_events (alert_id, kind) VALUES (NEW.id, 'firing');
                ELSIF OLD.resolved_at IS NULL AND NEW.resolved_at IS NOT NULL THEN
                    INSERT INTO alert_events (alert_id, kind) VALUES (NEW.id, 'resolved');
                ELSIF OLD.resolved_at IS NOT NULL AND NEW.resolved_at IS NULL THEN
                    INSERT INTO alert_events (alert_id, kind) VALUES (NEW.id, 'firing');
                END IF;
                RETURN NULL;
            END
            $fn$;
            -- A configured group's interval wins over a learnt one; learnt ones are per series.
            ALTER TABLE device_health ADD COLUMN configured boolean NOT NULL DEFAULT false;
            CREATE TABLE series_health (
                device_id integer NOT NULL,
                metric_id integer NOT NULL,
                interval_s double precision NOT NULL,
                PRIMARY KEY (device_id, metric_id));
            """),
        Migration(version: 19, name: "device labels", sql: """
            -- Device labels (Docs/http-ingest.md): the tags of line-protocol points other than the
            -- one naming the device, and their string fields when kept. The latest value per
            -- device, kind and key, since when it holds and when it was last carried; and every
            -- change, with the time of the reading that brought it.
            CREATE TABLE device_labels (
                device_id integer NOT NULL,
                kind text NOT NULL CHECK (kind IN ('tag', 'field')),
                key text NOT NULL,
                value text NOT NULL,
                value_since timestamptz NOT NULL,
                last_seen timestamptz NOT NULL,
                PRIMARY KEY (device_id, kind, key));
            CREATE TABLE device_label_changes (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                device_id integer NOT NULL,
                kind text NOT NULL,
                key text NOT NULL,
                old_value text,
                new_value text NOT NULL,
                ts timestamptz NOT NULL,
                recorded_at timestamptz NOT NULL DEFAULT now());
            CREATE INDEX device_label_changes_device ON device_label_changes (device_id, ts);
            -- Published in the change feed; a publication created by another role (Docs/change-feed.md)
            -- is left as it is, with a notice saying what to run.
            DO $do$
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'telemetry_feed') THEN
                    ALTER PUBLICATION telemetry_feed ADD TABLE device_labels, device_label_changes;
                END IF;
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE NOTICE 'telemetry_feed belongs to another role: run ALTER PUBLICATION telemetry_feed ADD TABLE device_labels, device_label_changes as its owner';
            END
            $do$;
            """),
    ]
}
