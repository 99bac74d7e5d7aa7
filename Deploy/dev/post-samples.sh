#!/bin/bash
# post-samples.sh URL FILE...: posts each NDJSON file to the hub's POST /v1/samples until it is
# accepted (202), retrying 429 and 503 as the hub asks; for a load test or a backfill.
# Prints "retry CODE" for each retry and "done" at the end; any other answer is fatal
# ("failed CODE FILE" on stderr, exit 1). Set TOKEN for a hub that wants a bearer token.
set -u
url=$1
shift
auth=()
if [ -n "${TOKEN:-}" ]; then auth=(-H "Authorization: Bearer $TOKEN"); fi
for file in "$@"; do
    while :; do
        code=$(curl -s -m 60 -o /dev/null -w '%{http_code}' "${auth[@]}" -H 'Content-Type: application/x-ndjson' \
            --data-binary @"$file" "$url")
        if [ "$code" = 202 ]; then break; fi
        if [ "$code" = 429 ] || [ "$code" = 503 ]; then
            echo "retry $code"
            sleep 0.1
            continue
        fi
        echo "failed $code $file" >&2
        exit 1
    done
done
echo "done"
