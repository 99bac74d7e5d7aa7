#!/usr/bin/env bash
# `make run`: the processor and a hub with simulated sensors against the local servers started by
# services.sh, until Ctrl-C, which stops both daemons (the servers keep running: `make stop`).
# Prints what is running and commands to look at it; each of them works when pasted in the same
# shell (QuickStartTests runs every one).
#
# Usage: Deploy/dev/run.sh REDIS_PORT PG_PORT
# The environment may set PGDATABASE, REDIS_KEY_PREFIX, HUB_HTTP_PORT (8080),
# PROCESSOR_HTTP_PORT (8081), RUNTIME_DIRECTORY (control sockets) and TELEMETRY_BIN_DIR (the
# daemons to run; the release build by default).
set -euo pipefail
redis_port=${1:?redis port}
pg_port=${2:?postgres port}
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${TELEMETRY_BIN_DIR:-$(cd "$root" && swift build -c release --show-bin-path)}"
logs="$root/.run/run/logs"
mkdir -p "$logs"
hub_port=${HUB_HTTP_PORT:-8080}
processor_port=${PROCESSOR_HTTP_PORT:-8081}

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

psql_command="psql -h 127.0.0.1 -p $pg_port -U telemetry $PGDATABASE"
ctl="$bin/telemetryctl"
cat <<MSG

  telemetry is running: hub (36 simulated sensors) → redis 127.0.0.1:$redis_port → processor → postgres 127.0.0.1:$pg_port
  hub:       http://127.0.0.1:$hub_port (ingest, /health, /ready, /metrics)
  processor: http://127.0.0.1:$processor_port (/health, /ready, /metrics)
  logs:      $logs

  readings:  $psql_command -c 'SELECT * FROM readings ORDER BY ts DESC LIMIT 10'
  count:     $psql_command -c 'SELECT count(*) FROM samples'
  post:      curl -fsS -H 'Content-Type: application/x-ndjson' --data-binary "{\"device_id\":\"my-sensor\",\"timestamp\":\"\$(date -u +%FT%TZ)\",\"temperature\":21.5}" http://127.0.0.1:$hub_port/v1/samples
  ready:     curl -fsS http://127.0.0.1:$hub_port/ready http://127.0.0.1:$processor_port/ready
  status:    $ctl status
  queues:    $ctl queues --redis-port $redis_port --key-prefix $REDIS_KEY_PREFIX
  stop:      Ctrl-C

MSG
wait -n "${pids[@]}" || true
