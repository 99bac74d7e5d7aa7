#!/usr/bin/env bash
# `make run`: the processor, a hub with simulated sensors and the query daemon against the local
# servers started by services.sh (and its streaming replica, when given), until Ctrl-C, which stops
# the daemons (the servers keep running: `make stop`).
# Prints what is running and commands to look at it; each of them works when pasted in the same
# shell (QuickStartTests runs every one).
#
# Usage: Deploy/dev/run.sh REDIS_PORT PG_PORT [REPLICA_PORT]
# The environment may set PGDATABASE, REDIS_KEY_PREFIX, HUB_HTTP_PORT (8080),
# PROCESSOR_HTTP_PORT (8081), QUERY_HTTP_PORT (8082), RUNTIME_DIRECTORY (control sockets) and TELEMETRY_BIN_DIR (the
# daemons to run; the release build by default).
set -euo pipefail
redis_port=${1:?redis port}
pg_port=${2:?postgres port}
replica_port=${3:-}
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${TELEMETRY_BIN_DIR:-$(cd "$root" && swift build -c release --show-bin-path)}"
logs="$root/.run/run/logs"
mkdir -p "$logs"
hub_port=${HUB_HTTP_PORT:-8080}
processor_port=${PROCESSOR_HTTP_PORT:-8081}
query_port=${QUERY_HTTP_PORT:-8082}

export REDIS_HOST=127.0.0.1 REDIS_PORT="$redis_port"
export PGHOST=127.0.0.1 PGPORT="$pg_port" PGUSER=telemetry PGDATABASE="${PGDATABASE:-telemetry}"
export REDIS_KEY_PREFIX="${REDIS_KEY_PREFIX:-telemetry}"
# The shipped configuration files are for production (no simulated sensors, the spool under
# systemd's StateDirectory); the development run turns the simulation on and keeps state here.
export SIMULATED_ENABLED=true SPOOL_DIR="${SPOOL_DIR:-$root/.run/run/spool}"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping daemons…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped. Redis and PostgreSQL keep running (make stop ends them)."
}
trap cleanup INT TERM EXIT

"$bin/telemetry-processor" --config "$root/Configuration/processor.yaml" --http-port "$processor_port" \
  2> >(tee "$logs/processor.log" >&2) &
pids+=($!)
"$bin/telemetry-hub" --config "$root/Configuration/hub.yaml" --http-port "$hub_port" 2> >(tee "$logs/hub.log" >&2) &
pids+=($!)
# The query daemon reads the primary and, when there is one, the streaming replica as r1, as
# telemetry_query: a role the tables' row-level security applies to (Docs/tenants.md).
if [ -n "$replica_port" ]; then
  export POSTGRES_REPLICAS=r1
  export POSTGRES_REPLICA_R1_URL="host=127.0.0.1 port=$replica_port user=telemetry_query dbname=$PGDATABASE"
fi
PGUSER=telemetry_query "$bin/telemetry-query" --config "$root/Configuration/query.yaml" --http-port "$query_port" \
  2> >(tee "$logs/query.log" >&2) &
pids+=($!)

psql_command="psql -h 127.0.0.1 -p $pg_port -U telemetry $PGDATABASE"
ctl="$bin/telemetryctl"
cat <<MSG

  telemetry is running: hub (36 simulated sensors) → redis 127.0.0.1:$redis_port → processor → postgres 127.0.0.1:$pg_port${replica_port:+ (replica :$replica_port)} → query
  hub:       http://127.0.0.1:$hub_port (ingest, /health, /ready, /metrics)
  processor: http://127.0.0.1:$processor_port (/health, /ready, /metrics)
  query:     http://127.0.0.1:$query_port (read API, /health, /ready, /metrics; Docs/query-api.md)
  logs:      $logs

  readings:  $psql_command -c 'SELECT * FROM readings ORDER BY ts DESC LIMIT 10'
  count:     $psql_command -c 'SELECT count(*) FROM samples'
  post:      curl -fsS -H 'Content-Type: application/x-ndjson' --data-binary "{\"device_id\":\"my-sensor\",\"timestamp\":\"\$(date -u +%FT%TZ)\",\"temperature\":21.5}" http://127.0.0.1:$hub_port/v1/samples
  devices:   curl -fsS 'http://127.0.0.1:$query_port/v1/devices?limit=5'
  latest:    curl -fsS -i http://127.0.0.1:$query_port/v1/devices/sim_001/latest
  series:    curl -fsS 'http://127.0.0.1:$query_port/v1/series?device=sim_001&metric=temperature&step=1m'
  ready:     curl -fsS http://127.0.0.1:$hub_port/ready http://127.0.0.1:$processor_port/ready http://127.0.0.1:$query_port/ready
  status:    $ctl status
  queues:    $ctl queues --redis-port $redis_port --key-prefix $REDIS_KEY_PREFIX
  stop:      Ctrl-C

MSG
wait -n "${pids[@]}" || true
