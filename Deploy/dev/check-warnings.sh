#!/usr/bin/env bash
# Fails when a build log holds a compiler or package warning about the project's own files
# (Sources/, Tests/, Package.swift), so a new warning breaks `make test` and CI. Warnings about
# dependencies' files are shown but do not fail. Usage: check-warnings.sh BUILD_LOG
set -euo pipefail
log=${1:?usage: check-warnings.sh BUILD_LOG}
root=$(cd "$(dirname "$0")/../.." && pwd)
# The project's files by path, and SwiftPM's own warnings about the manifest's targets.
ours=$(grep -E "^(${root}/)?(Sources|Tests)/[^:]+:[0-9]+:[0-9]+: warning:|^warning: prohibited flag|^${root}/Package.swift:[0-9]+:[0-9]+: warning:" "$log" | sort -u || true)
if [ -n "$ours" ]; then
    echo "the build printed warnings about the project's files:" >&2
    echo "$ours" >&2
    exit 1
fi
others=$(grep -c "warning:" "$log" || true)
echo "no warning from the project's files (${others} about dependencies)"
