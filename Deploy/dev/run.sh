#!/usr/bin/env bash
# `make run`: the processor and a hub with simulated sensors against the local servers started by
# services.sh, until Ctrl-C, which stops both daemons (the servers keep running: `make stop`).
set -euo pipefail
redis_port=${1:?redis port}
pg_port=${2:?postgres port}
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$(cd "$root" && swift build -c release --show-bin-path)"
logs="$root/.run/run/logs"
mkdir -p "$logs"

export REDIS_HOST=127.0.0.1 REDIS_PORT="$redis_port"
export PGHOST=127.0.0.1 PGPORT="$pg_port" PGUSER=telemetry PGDATABASE=telemetry

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping daemons…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped. Redis and PostgreSQL keep running (make stop ends them)."
}
trap cleanup INT TERM EXIT

"$bin/telemetry-processor" --config "$root/Configuration/processor.yaml" 2> >(tee "$logs/processor.log" >&2) &
pids+=($!)
"$bin/telemetry-hub" --config "$root/Configuration/hub.yaml" 2> >(tee "$logs/hub.log" >&2) &
pids+=($!)

cat <<MSG

  telemetry is running: hub (simulated sensors) → redis 127.0.0.1:$redis_port → processor → postgres 127.0.0.1:$pg_port
  logs:      $logs
  look:      psql -h 127.0.0.1 -p $pg_port -U telemetry telemetry -c 'SELECT count(*) FROM samples'
  status:    $bin/telemetryctl status --redis-port $redis_port
  stop:      Ctrl-C

MSG
wait -n "${pids[@]}" || true
