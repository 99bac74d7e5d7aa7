#!/usr/bin/env python3
"""A webhook receiver for the alert delivery tests: every POST is checked against its
X-Telemetry-Signature (HMAC-SHA256 of the body under SECRET) and appended to LOG as one JSON line
{"event_id", "signature_valid", "body"}; answers 200.

  webhook_receiver.py PORT SECRET LOG
"""
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT, SECRET, LOG = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        given = self.headers.get("X-Telemetry-Signature", "")
        record = {"event_id": self.headers.get("X-Telemetry-Event-Id", ""),
                  "signature_valid": hmac.compare_digest(expected, given),
                  "body": json.loads(body)}
        with open(LOG, "a") as log:
            log.write(json.dumps(record) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", PORT), Handler)
print("serving", flush=True)
server.serve_forever()
