#!/usr/bin/env bash
# Starts or stops a loopback-only Redis and PostgreSQL for development and tests, and with
# REPLICA_PORT a PostgreSQL streaming replica of that PostgreSQL (pg_basebackup -R, hot standby).
#   Deploy/dev/services.sh start NAME REDIS_PORT PG_PORT [REPLICA_PORT]
#   Deploy/dev/services.sh stop NAME
# Data lives under .run/NAME. PostgreSQL runs as the 'postgres' user (initdb refuses root);
# it trusts loopback connections and has a 'telemetry' role (CREATEDB) and database.
set -euo pipefail

cmd=${1:?usage: services.sh start|stop NAME [REDIS_PORT PG_PORT [REPLICA_PORT]]}
# The servers must not inherit descriptors of whoever started this script: a caller that waits
# for one to close (Foundation's Process learns of a child's exit that way) would wait for the
# server to exit.
for fd in "/proc/$$/fd"/*; do
  fd=${fd##*/}
  if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
done
name=${2:?name}
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/.run/$name"
pgbin="$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)"
# DURABLE=0 (make test) keeps every server feature but skips fsync: tests drill process crashes,
# not power loss, and parallel test databases on a shared disk otherwise stall for seconds.
# PG_OPTIONS adds server settings at start (make bench: track_commit_timestamp and sizing).
durable=${DURABLE:-1}
if [ "$durable" = 0 ]; then
  redis_fsync=no
  pg_sync="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
else
  redis_fsync=everysec
  pg_sync="-c fsync=on"
fi

start_redis() {
  local port=$1
  mkdir -p "$dir/redis"
  if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
    if redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | grep -q '^redis_mode:sentinel'; then
      echo "port $port is taken by a Redis Sentinel, not a Redis server (Debian's redis-sentinel service? systemctl disable --now redis-sentinel)" >&2
      exit 1
    fi
    echo "redis already running on 127.0.0.1:$port"
    return
  fi
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/redis" \
    --appendonly yes --appendfsync "$redis_fsync" --maxmemory-policy noeviction --save "" \
    --daemonize yes --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log"
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && { echo "redis on 127.0.0.1:$port"; return; }
    sleep 0.1
  done
  echo "redis did not start; see $dir/redis/redis.log" >&2
  exit 1
}

# pg_start DATA LOGDIR PORT SOCKET_DIR [EXTRA_OPTIONS]: starts a server on loopback, with its
# log in LOGDIR. wal_level=logical lets the change feed's subscribers and slots read it
# (Docs/change-feed.md); a slot never holds more than 1 GB of WAL. The server must not inherit
# our stdout or stderr: a caller reading them to the end (a test) would wait for the server to exit.
pg_start() {
  local data=$1 logs=$2 port=$3 sock=$4 extra=${5:-}
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$data" -l "$logs/postgres.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $sock $pg_sync -c max_connections=200 -c wal_level=logical -c max_slot_wal_keep_size=1GB $extra ${PG_OPTIONS:-}" start \
    >/dev/null 2>"$logs/pg_ctl.err" </dev/null || { cat "$logs/pg_ctl.err" "$logs/postgres.log" >&2; exit 1; }
}

start_postgres() {
  local port=$1 data="$dir/pg/data" sock="$dir/pg/sock"
  mkdir -p "$dir/pg" "$sock"
  # The postgres user must be able to reach the data directory.
  chmod o+x "$root" "$root/.run" "$dir" 2>/dev/null || true
  chown postgres:postgres "$dir/pg" "$sock"
  if [ ! -s "$data/PG_VERSION" ]; then
    runuser -u postgres -- "$pgbin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/pg/initdb.log" 2>&1 \
      || { cat "$dir/pg/initdb.log" >&2; exit 1; }
  fi
  if "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    echo "postgres already running on 127.0.0.1:$port"
  else
    pg_start "$data" "$dir/pg" "$port" "$sock"
    echo "postgres on 127.0.0.1:$port"
  fi
  psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q <<'SQL'
SET client_min_messages TO warning;
SELECT 'CREATE ROLE telemetry LOGIN CREATEDB' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'telemetry') \gexec
SELECT 'CREATE DATABASE telemetry OWNER telemetry' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'telemetry') \gexec
-- telemetry_replica_lag() reads the WAL receiver's status on a replica.
GRANT pg_read_all_stats TO telemetry;
-- The query daemon's role (Docs/tenants.md): not the tables' owner, so their row-level security
-- applies to it; the processor's migrations grant telemetry_reader what it reads.
SELECT 'CREATE ROLE telemetry_reader NOLOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'telemetry_reader') \gexec
SELECT 'CREATE ROLE telemetry_query LOGIN IN ROLE telemetry_reader' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'telemetry_query') \gexec
GRANT pg_read_all_stats TO telemetry_reader;
SQL
}

start_replica() {
  local primary=$1 port=$2 data="$dir/replica/data" sock="$dir/replica/sock"
  mkdir -p "$dir/replica" "$sock"
  chown postgres:postgres "$dir/replica" "$sock"
  # A replica whose primary was created anew (its system identifier differs) is made afresh.
  local want have
  want=$(runuser -u postgres -- "$pgbin/pg_controldata" -D "$dir/pg/data" | awk -F': *' '/system identifier/ {print $2}')
  have=""
  if [ -s "$data/PG_VERSION" ]; then
    have=$(runuser -u postgres -- "$pgbin/pg_controldata" -D "$data" | awk -F': *' '/system identifier/ {print $2}')
  fi
  if [ "$want" != "$have" ]; then
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$data"
    runuser -u postgres -- "$pgbin/pg_basebackup" -h 127.0.0.1 -p "$primary" -U postgres -D "$data" -R -X stream -c fast \
      >"$dir/replica/basebackup.log" 2>&1 || { cat "$dir/replica/basebackup.log" >&2; exit 1; }
  fi
  if "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    echo "postgres replica already running on 127.0.0.1:$port"
    return
  fi
  # The tests pause replay, kill the replica (pg_ctl stop -m immediate) and start it again.
  pg_start "$data" "$dir/replica" "$port" "$sock" "-c hot_standby=on"
  echo "postgres replica of :$primary on 127.0.0.1:$port"
}

stop_all() {
  if [ -s "$dir/replica/data/PG_VERSION" ]; then
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/replica/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -f "$dir/redis/redis.pid" ]; then
    kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true
    rm -f "$dir/redis/redis.pid"
  fi
  if [ -s "$dir/pg/data/PG_VERSION" ]; then
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

case "$cmd" in
  start)
    start_redis "${3:?redis port}"
    start_postgres "${4:?postgres port}"
    if [ -n "${5:-}" ]; then start_replica "$4" "$5"; fi
    ;;
  stop) stop_all ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
