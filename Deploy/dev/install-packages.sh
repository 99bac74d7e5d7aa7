#!/usr/bin/env bash
# Installs the Debian packages given that are missing, without recommends, and without letting
# Debian start its own servers: installing redis-server or postgresql on a systemd host normally
# starts an instance on the default port (6379, 5432) beside the ones this project runs on its
# own ports. A policy-rc.d refuses those starts for the length of the install; the output says so.
#
# Usage: Deploy/dev/install-packages.sh PACKAGE...
set -euo pipefail
# Debian's redis-sentinel service listens on 26379, the tests' Redis port: never leave it running
# or enabled (it would start again at the next boot), whether installed now or before.
keep_sentinel_service_off() {
  dpkg -s redis-sentinel >/dev/null 2>&1 && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 || return 0
  if systemctl is-active --quiet redis-sentinel 2>/dev/null || systemctl is-enabled --quiet redis-sentinel 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      systemctl disable --now redis-sentinel >/dev/null 2>&1 || true
      echo "note: stopped and disabled Debian's redis-sentinel service (it takes port 26379, the tests' Redis port)"
    else
      echo "warning: Debian's redis-sentinel service takes port 26379, the tests' Redis port: sudo systemctl disable --now redis-sentinel" >&2
    fi
  fi
}
missing=()
for package in "$@"; do dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package"); done
if [ "${#missing[@]}" -eq 0 ]; then
  keep_sentinel_service_off
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]}; run as root (or: sudo apt-get install --no-install-recommends ${missing[*]})" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# Written by Deploy/dev/install-packages.sh for the length of an install.\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
  trap 'rm -f "$policy"' EXIT
fi
timeout 600 apt-get update -qq
DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
servers=()
for package in "${missing[@]}"; do
  case "$package" in redis-server | postgresql | influxdb | mosquitto) servers+=("$package") ;; esac
done
keep_sentinel_service_off
if [ "${#servers[@]}" -gt 0 ]; then
  if [ "$own_policy" = 1 ]; then
    echo "note: Debian's own ${servers[*]} service(s) were installed but not started; this project runs its own"
    echo "      servers on other ports. On a systemd host they are enabled for the next boot:"
    echo "      systemctl disable --now ${servers[*]}   # if you do not want them"
  else
    echo "note: installing ${servers[*]} may have started Debian's own instance(s) on the default port(s);"
    echo "      this project runs its own servers on other ports (systemctl disable --now ${servers[*]} to stop them)"
  fi
fi
