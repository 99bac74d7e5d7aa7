#!/usr/bin/env bash
# `make lint`: static checks of everything under Deploy/ (and the repository's YAML and shell):
#   - yamllint -s with .yamllint on Deploy/, Configuration/ and .yamllint itself
#   - shellcheck on every *.sh outside any .build*/ (Benchmarks/.build too), .run/ and .git/, and on .ci/run
#   - promtool check rules, check config (offline) and test rules (Deploy/prometheus/alerts_test.yml)
#   - python3 -m json.tool on the Grafana dashboard
#   - Deploy/dev/check-sources.py: every public declaration documented, no Sources file over 450
#     lines, POSIX calls and unsafe pointers only in the wrapper modules (and the hot codecs)
# and, when the tools happen to be installed (nothing is installed for them):
#   - kubernetes-validate --strict on Deploy/kubernetes/*.yaml (pip install kubernetes-validate)
#   - docker-compose config -q on Deploy/compose.yaml (apt-get install docker-compose)
# Installs yamllint, shellcheck and prometheus (promtool) with apt-get when absent. Runs every check,
# then exits 1 if any of them found something.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

failed=()
check() {
  local label=$1
  shift
  printf '== %s\n' "$label"
  if "$@"; then
    printf '   ok\n'
  else
    printf '   FAILED: %s\n' "$label"
    failed+=("$label")
  fi
}

# --- tools ---------------------------------------------------------------------------------------------
missing=()
command -v yamllint >/dev/null 2>&1 || missing+=(yamllint)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing tools: ${missing[*]} (apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "installing ${missing[*]}"
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian ships promtool in the prometheus package (on a systemd host, installing it also starts a
# Prometheus server on :9090); promtool is all this script uses.

# --- files ---------------------------------------------------------------------------------------------
prune=(\( -name .build -o -path ./.run -o -path ./.git -o -name '.build-*' -o -name '.build_*' -o -name node_modules \) -prune)
mapfile -t yaml_files < <(find ./Deploy ./Configuration -type f \( -name '*.yaml' -o -name '*.yml' \) | sort)
yaml_files+=(./.yamllint)
mapfile -t shell_files < <(find . "${prune[@]}" -o -type f -name '*.sh' -print | sort)
[ -f .ci/run ] && shell_files+=(./.ci/run)

# --- checks --------------------------------------------------------------------------------------------
check "source rules (Deploy/dev/check-sources.py: doc comments, file length, POSIX and unsafe code at the edge)" python3 Deploy/dev/check-sources.py
check "yamllint -s (${#yaml_files[@]} files)" yamllint -s -c .yamllint "${yaml_files[@]}"
check "shellcheck (${#shell_files[@]} files: ${shell_files[*]})" shellcheck "${shell_files[@]}"
check "promtool check rules Deploy/prometheus/alerts.yml" promtool check rules Deploy/prometheus/alerts.yml
check "promtool check config Deploy/prometheus/prometheus.yml" promtool check config Deploy/prometheus/prometheus.yml
check "promtool test rules Deploy/prometheus/alerts_test.yml" promtool test rules Deploy/prometheus/alerts_test.yml
check "json Deploy/grafana/dashboard.json" python3 -m json.tool Deploy/grafana/dashboard.json /dev/null

if command -v kubernetes-validate >/dev/null 2>&1; then
  mapfile -t k8s_files < <(find Deploy/kubernetes -type f -name '*.yaml' ! -name kustomization.yaml | sort)
  check "kubernetes-validate --strict Deploy/kubernetes" kubernetes-validate --quiet --strict "${k8s_files[@]}"
else
  echo "== kubernetes-validate not installed: Deploy/kubernetes checked by yamllint only"
fi
if command -v docker-compose >/dev/null 2>&1; then
  check "docker-compose config Deploy/compose.yaml" \
    env POSTGRES_PASSWORD=lint QUERY_DB_PASSWORD=lint GRAFANA_ADMIN_PASSWORD=lint TELEMETRY_INGEST_TOKEN=lint-token-0123456789 \
      TELEMETRY_QUERY_TOKEN=lint-token-0123456789 docker-compose --project-directory Deploy -f Deploy/compose.yaml config -q
else
  echo "== docker-compose not installed: Deploy/compose.yaml checked by yamllint only"
fi

if [ "${#failed[@]}" -gt 0 ]; then
  printf '\nlint: %d check(s) failed:\n' "${#failed[@]}"
  printf '  - %s\n' "${failed[@]}"
  exit 1
fi
printf '\nlint: all checks passed\n'
