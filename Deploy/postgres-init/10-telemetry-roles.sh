#!/bin/bash
# Run once by the postgres image when it creates its data directory (compose.yaml mounts this
# directory at /docker-entrypoint-initdb.d): the query daemon's roles (Docs/tenants.md). The
# processor's migrations grant telemetry_reader what it reads; telemetry_query logs in with
# QUERY_DB_PASSWORD and is subject to the tables' row-level security (it owns nothing).
set -euo pipefail
: "${QUERY_DB_PASSWORD:?set QUERY_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v password="$QUERY_DB_PASSWORD" <<'SQL'
CREATE ROLE telemetry_reader NOLOGIN;
CREATE ROLE telemetry_query LOGIN IN ROLE telemetry_reader PASSWORD :'password';
GRANT pg_read_all_stats TO telemetry_reader;
SQL
