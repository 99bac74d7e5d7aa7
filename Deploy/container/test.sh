#!/usr/bin/env bash
# `make container-test`: builds the hub's runtime image from Deploy/container/Containerfile with the
# release binaries of this checkout (BINARIES=prebuilt) on a Debian 12 base made here with debootstrap
# (no registry is needed), runs it against the test Redis on 127.0.0.1 and checks that it becomes
# ready, publishes batches to its streams, and stops cleanly (exit status 0) on SIGTERM.
#
#   Deploy/container/test.sh             REDIS_PORT (default 26379, `make services-test`)
#
# Everything it leaves behind: the images localhost/telemetry-debian:bookworm and
# localhost/telemetry-hub:test, the debootstrap tree and podman's configuration under .run/container/.
# The container, its volume and its Redis keys (prefix ctest<pid>) are removed on every exit.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$root/.run/container"
base_image=localhost/telemetry-debian:bookworm
image=localhost/telemetry-hub:test
redis_port=${REDIS_PORT:-26379}
prefix="ctest$$"
name="telemetry-hub-ctest-$$"
shards=4
wait_s=30
mkdir -p "$work"

log() { printf '[container-test] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# --- tools ---------------------------------------------------------------------------------------------
missing=()
for tool in podman:podman runc:runc debootstrap:debootstrap curl:curl redis-cli:redis-tools; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]} (install them: apt-get install -y ${missing[*]})"
  log "installing ${missing[*]}"
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# podman as root on a host without systemd: runc, cgroupfs, a file for events, k8s-file logs, and
# rlimits a sandbox allows (podman's defaults, nofile 1048576 and nproc 4194304, can be above the
# host's hard limits, and runc then cannot start the container).
limit() { local hard=$1 cap=$2; if [ "$hard" = unlimited ] || [ "$hard" -gt "$cap" ]; then echo "$cap"; else echo "$hard"; fi; }
nofile="$(limit "$(ulimit -Hn)" 65536)"
nproc="$(limit "$(ulimit -Hu)" 8192)"
conf="$work/containers.conf"
cat >"$conf" <<CONF
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$conf"
# pm SECONDS ARGS…: podman with the global flags, bounded in time.
pm() {
  local limit=$1
  shift
  timeout --kill-after=10 "$limit" podman --runtime runc --cgroup-manager cgroupfs "$@"
}

# --- Debian 12 base image (debootstrap, cached) ---------------------------------------------------------
# The first bookworm mirror of the host's apt sources (one-line or deb822 format).
debian_mirror() {
  local files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ "${#files[@]}" -gt 0 ] || return 0
  awk '
    FNR == 1 { uris = ""; suites = "" }
    /^[[:space:]]*deb[[:space:]]/ {
      n = split($0, w, /[[:space:]]+/); i = 2
      if (w[i] ~ /^\[/) { while (i <= n && w[i] !~ /\]$/) i++; i++ }
      if (w[i + 1] == "bookworm") { print w[i]; exit }
    }
    /^URIs:/ { uris = $2 }
    /^Suites:/ { suites = " " $0 " " }
    /^[[:space:]]*$/ || /^Components:/ {
      if (uris != "" && suites ~ / bookworm /) { print uris; exit }
    }
  ' "${files[@]}"
}

if pm 60 image exists "$base_image"; then
  log "base image $base_image exists"
else
  rootfs="$work/bookworm-rootfs"
  if [ ! -f "$rootfs/.complete" ]; then
    [ "$(id -u)" = 0 ] || die "debootstrap needs root"
    mirror="${DEBIAN_MIRROR:-$(debian_mirror)}"
    mirror="${mirror:-http://deb.debian.org/debian}"
    log "debootstrap --variant=minbase bookworm from $mirror"
    rm -rf "$rootfs.tmp" "$rootfs"
    started=$SECONDS
    timeout --kill-after=30 1200 debootstrap --variant=minbase bookworm "$rootfs.tmp" "$mirror" >"$work/debootstrap.log" 2>&1 \
      || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }
    rm -rf "$rootfs.tmp"/var/cache/apt/archives/*.deb "$rootfs.tmp"/var/lib/apt/lists/*
    touch "$rootfs.tmp/.complete"
    mv "$rootfs.tmp" "$rootfs"
    log "debootstrap took $((SECONDS - started)) s"
  fi
  log "importing $base_image"
  tar -C "$rootfs" --exclude=./.complete -c . \
    | pm 600 import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' \
        - "$base_image" >/dev/null
fi

# --- release binaries, linked with the Swift runtime inside -------------------------------------------
bin_dir="$root/.build/release"
needs_build() {
  local b
  for b in telemetry-hub telemetryctl; do
    [ -x "$bin_dir/$b" ] || return 0
    # Linked without --static-swift-stdlib: needs libswiftCore.so, which the runtime image lacks.
    ldd "$bin_dir/$b" 2>/dev/null | grep -q 'libswiftCore\.so' && return 0
  done
  return 1
}
if needs_build; then
  log "building the release binaries with --static-swift-stdlib"
  timeout --kill-after=30 3600 swift build -c release --static-swift-stdlib --product telemetry-hub
  timeout --kill-after=30 3600 swift build -c release --static-swift-stdlib --product telemetryctl
  needs_build && die "$bin_dir/telemetry-hub is still not linked with --static-swift-stdlib"
fi
# The real directory behind the .build/release link, relative to the build context.
prebuilt_dir="$(realpath --relative-to="$root" "$(readlink -f "$bin_dir")")"

# --- image ---------------------------------------------------------------------------------------------
log "building $image (binaries from $prebuilt_dir)"
pm 900 build --network host \
  --build-arg SERVICE=telemetry-hub \
  --build-arg BINARIES=prebuilt \
  --build-arg PREBUILT_DIR="$prebuilt_dir" \
  --build-arg RUNTIME_BASE="$base_image" \
  --target runtime -t "$image" -f Deploy/container/Containerfile . >"$work/build.log" 2>&1 \
  || { tail -n 40 "$work/build.log" >&2; die "podman build failed (log: $work/build.log)"; }

# --- Redis ---------------------------------------------------------------------------------------------
rcli() { timeout 10 redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }
if ! rcli ping >/dev/null 2>&1; then
  log "no Redis on 127.0.0.1:$redis_port: make services-test"
  timeout 600 make -C "$root" services-test >&2
  rcli ping >/dev/null 2>&1 || die "no Redis answers on 127.0.0.1:$redis_port"
fi

# A loopback port nothing listens on.
http_port=""
for _ in $(seq 1 100); do
  candidate=$((20000 + RANDOM % 20000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then http_port=$candidate; break; fi
done
[ -n "$http_port" ] || die "no free port found"

# --- run -----------------------------------------------------------------------------------------------
delete_keys() {
  local key
  rcli --scan --pattern "$prefix:*" 2>/dev/null | while read -r key; do
    rcli UNLINK "$key" >/dev/null 2>&1 || true
  done
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if pm 30 container exists "$name" 2>/dev/null; then
    pm 30 stop -t 5 "$name" >/dev/null 2>&1 || true
    pm 60 rm -f -v "$name" >/dev/null 2>&1 || true
  fi
  delete_keys || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  log "FAIL: $*"
  log "---- container logs ($name) ----"
  pm 30 logs --tail 200 "$name" >&2 2>&1 || true
  log "---- end of logs ----"
  exit 1
}

log "starting $name: http 127.0.0.1:$http_port, redis 127.0.0.1:$redis_port, key prefix $prefix"
pm 120 run -d --name "$name" --network host \
  -e REDIS_HOST=127.0.0.1 -e REDIS_PORT="$redis_port" -e REDIS_KEY_PREFIX="$prefix" \
  -e STREAMS_SHARDS="$shards" \
  -e HTTP_HOST=127.0.0.1 -e HTTP_PORT="$http_port" \
  -e SIMULATED_ENABLED=true -e SIMULATED_SENSORS=4 -e SIMULATED_RATE_HZ=20 \
  -e SHUTDOWN_TIMEOUT_S=8 \
  "$image" >/dev/null || fail "podman run failed"

stream_entries() {
  local total=0 shard n
  for ((shard = 0; shard < shards; shard++)); do
    n="$(rcli XLEN "$prefix:stream:$shard" 2>/dev/null || echo 0)"
    [[ "$n" =~ ^[0-9]+$ ]] || n=0
    total=$((total + n))
  done
  echo "$total"
}

started=$SECONDS
ready=""
entries=0
while ((SECONDS - started < wait_s)); do
  [ "$(pm 30 inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || fail "the container exited early"
  if [ -z "$ready" ] && curl -fsS --max-time 2 "http://127.0.0.1:$http_port/ready" >/dev/null 2>&1; then
    ready=$((SECONDS - started))
  fi
  entries="$(stream_entries)"
  if [ -n "$ready" ] && [ "$entries" -gt 0 ]; then break; fi
  sleep 0.5
done
[ -n "$ready" ] || fail "GET /ready did not answer 200 within ${wait_s} s"
[ "$entries" -gt 0 ] || fail "no entries in $prefix:stream:0..$((shards - 1)) within ${wait_s} s"
published="$(curl -fsS --max-time 5 "http://127.0.0.1:$http_port/metrics" 2>/dev/null \
  | awk '$1 == "telemetry_hub_samples_published_total" { print $2 }' || true)"

log "stopping $name (SIGTERM, 10 s)"
pm 30 stop -t 10 "$name" >/dev/null || fail "podman stop failed"
exit_code="$(pm 30 inspect --format '{{.State.ExitCode}}' "$name")"
[ "$exit_code" = 0 ] || fail "the hub exited with status $exit_code after SIGTERM"
entries="$(stream_entries)"
pm 60 rm -v "$name" >/dev/null || true

echo "PASS container-test: $image ready after ${ready} s; $entries stream entries over $shards shards" \
  "(prefix $prefix, samples published ${published:-n/a}); exit status $exit_code after SIGTERM"
