"""Schemathesis hooks for Docs/openapi.yaml (loaded through SCHEMATHESIS_HOOKS).

The hub's main body format, NDJSON, has no serializer in Schemathesis: a generated value is a
sample object, or a list of them (one per line), or already a string.
"""
import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, (bytes, str)):
        return value.encode() if isinstance(value, str) else value
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode()
