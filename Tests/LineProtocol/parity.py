"""Line-protocol parity between the hub and Debian's influxd 1.6 (Docs/http-ingest.md).

Usage: parity.py HUB_PORT TOKEN WORKDIR
Starts influxd on free loopback ports with its data under WORKDIR, writes the corpus (corpus.py)
to both servers through the official `influxdb` client (1.x /write, gzip on every other request,
the hub's token as the password), then writes through `influxdb-client` to the hub's
/api/v2/write. Writes WORKDIR/report.json: the verdicts, the values read back, every mismatch, and
the readings the hub should hold (the caller compares them with PostgreSQL).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402

from influxdb import InfluxDBClient  # noqa: E402
from influxdb.exceptions import InfluxDBClientError  # noqa: E402

hub_port, token, workdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_influxd():
    if not shutil.which("influxd"):
        sys.exit("influxd is not installed: run `make deps-test` (Debian package influxdb)")
    http, rpc = free_port(), free_port()
    data = os.path.join(workdir, "influxd")
    os.makedirs(data, exist_ok=True)
    env = dict(os.environ, INFLUXDB_HTTP_BIND_ADDRESS="127.0.0.1:%d" % http, INFLUXDB_BIND_ADDRESS="127.0.0.1:%d" % rpc,
               INFLUXDB_META_DIR=data + "/meta", INFLUXDB_DATA_DIR=data + "/data", INFLUXDB_DATA_WAL_DIR=data + "/wal",
               INFLUXDB_REPORTING_DISABLED="true", INFLUXDB_HTTP_LOG_ENABLED="false", INFLUXDB_DATA_QUERY_LOG_ENABLED="false",
               INFLUXDB_MONITOR_STORE_ENABLED="false")
    log = open(os.path.join(workdir, "influxd.log"), "w")
    process = subprocess.Popen(["influxd", "run"], env=env, stdout=log, stderr=log)
    for _ in range(200):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/ping" % http, timeout=1)
            return process, http
        except Exception:
            time.sleep(0.1)
    process.kill()
    sys.exit("influxd did not start; see %s/influxd.log" % workdir)


def write_all(client, entries, label):
    """Writes the corpus in requests of up to 100 lines of one precision; returns per-line verdicts
    (True accepted, False refused, None blank/comment) and the statuses seen."""
    verdicts = [None] * len(entries)
    statuses = {}
    groups = {}
    for index, entry in enumerate(entries):
        groups.setdefault(entry["precision"], []).append(index)
    for precision, indexes in sorted(groups.items()):
        request = []
        for index in indexes:
            request.append(index)
            text = entries[index]["text"]
            # An unbalanced quote takes the rest of a body into its line (both servers): end the request there.
            if len(request) == 100 or text.count('"') % 2 == 1:
                send(client, entries, request, precision, verdicts, statuses, label)
                request = []
        if request:
            send(client, entries, request, precision, verdicts, statuses, label)
    return verdicts, statuses


def send(client, entries, request, precision, verdicts, statuses, label):
    lines = [entries[i]["text"] for i in request]
    status, message = 204, ""
    try:
        client.write("\n".join(lines), params={"db": "parity", "precision": precision}, expected_response_code=204,
                     protocol="line")
    except InfluxDBClientError as error:
        status, message = error.code, str(error.content)
        try:
            message = json.loads(error.content)["error"]
        except (ValueError, KeyError, TypeError):
            pass
    statuses[status] = statuses.get(status, 0) + 1
    for i in request:
        text = entries[i]["text"]
        quoted = text.lstrip(" \t\0")
        if quoted.strip(" \t\r") == "" or quoted.startswith("#"):
            continue
        verdicts[i] = ("unable to parse '" + quoted[:1000]) not in message
        if status not in (204, 400):
            raise SystemExit("%s answered %d: %s" % (label, status, message[:500]))


def influx_points(http):
    """Every point influxd holds: {(measurement, device, time ns): row dict}."""
    client = InfluxDBClient("127.0.0.1", http, database="parity")
    raw = client.query("SELECT * FROM /.*/", epoch="ns").raw
    points = {}
    for series in raw.get("series", []):
        columns = series["columns"]
        for values in series["values"]:
            row = dict(zip(columns, values))
            device = row.get("device_id") or row.get("device") or row.get("host")
            points[(series["name"], device, row["time"])] = row
    return points


def main():
    entries = corpus.build(base_seconds=int(time.time()))
    influxd, http = start_influxd()
    try:
        admin = InfluxDBClient("127.0.0.1", http)
        admin.create_database("parity")
        influx = InfluxDBClient("127.0.0.1", http, database="parity", gzip=True)
        # The hub: the 1.x client with the token as the password (u/p parameters), gzip bodies.
        hub = InfluxDBClient("127.0.0.1", hub_port, username="telegraf", password=token, database="parity", gzip=True)
        started = time.time()
        influx_verdicts, influx_statuses = write_all(influx, entries, "influxd")
        influx_seconds = time.time() - started
        started = time.time()
        hub_verdicts, hub_statuses = write_all(hub, entries, "hub")
        hub_seconds = time.time() - started
        stored = influx_points(http)
    finally:
        influxd.terminate()
        influxd.wait(30)

    report = {"lines": len(entries), "influx_statuses": influx_statuses, "hub_statuses": hub_statuses,
              "influx_seconds": round(influx_seconds, 2), "hub_seconds": round(hub_seconds, 2),
              "counts": {}, "mismatches": [], "expected_readings": [], "influx_value_mismatches": []}
    counts = report["counts"]
    for index, entry in enumerate(entries):
        iv, hv = influx_verdicts[index], hub_verdicts[index]
        expect = entry["expect"]
        if expect == "skip":
            counts["skipped"] = counts.get("skipped", 0) + 1
            if iv is not None or hv is not None:
                report["mismatches"].append({"line": entry["text"], "why": "a blank or comment line was judged"})
            continue
        key = "%s influx=%s hub=%s" % (expect.split(":")[0] if expect.startswith("both") else expect, iv, hv)
        counts[key] = counts.get(key, 0) + 1
        wanted = {"both": (True, True), "both:dead_letter": (True, True), "neither": (False, False)}.get(expect)
        if expect.startswith("hub_only"):
            wanted = (False, True)
        elif expect.startswith("influx_only"):
            wanted = (True, False)
        if (iv, hv) != wanted:
            report["mismatches"].append({"line": entry["text"][:300], "expect": expect, "influx": iv, "hub": hv})
            continue
        if not hv or "fields" not in entry:
            continue
        if expect == "both:dead_letter":
            report["dead_lettered"] = report.get("dead_lettered", 0) + sum(1 for kind, _ in entry["fields"].values() if kind != "string")
            continue
        # What the hub should hold: one reading per numeric field, the value as influxd reads it back.
        ts = entry["ts"]
        micros = None if ts is None else ts * corpus.PRECISIONS[entry["precision"]] // 1000
        row = None
        if iv and ts is not None:
            row = stored.get((entry["measurement"], entry["device"], ts * corpus.PRECISIONS[entry["precision"]]))
        elif iv:
            row = next((r for (m, d, _), r in stored.items() if m == entry["measurement"] and d == entry["device"]), None)
        for key, (kind, value) in entry["fields"].items():
            if kind == "string":
                continue
            expected = float(value)
            if iv:
                if row is None or key not in row:
                    report["influx_value_mismatches"].append({"line": entry["text"][:300], "field": key, "why": "not found in influxd"})
                    continue
                back = row[key]
                if float(back) != expected:
                    report["influx_value_mismatches"].append({"line": entry["text"][:300], "field": key, "influx": back, "wanted": expected})
                    continue
            report["expected_readings"].append({"device": entry["device"], "metric": key, "micros": micros, "value": repr(expected)})
    report["v2"] = write_v2(int(time.time()))
    with open(os.path.join(workdir, "report.json"), "w") as out:
        json.dump(report, out)


def write_v2(now):
    """The 2.x client against the hub's /api/v2/write: 500 points in ms precision, gzip, the token;
    then a batch with one malformed line (400, code invalid, the valid lines durable), and a wrong
    token (401)."""
    from influxdb_client import InfluxDBClient as Client2, Point, WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS
    from influxdb_client.rest import ApiException
    out = {"expected_readings": [], "errors": []}
    with Client2(url="http://127.0.0.1:%d" % hub_port, token=token, org="plant", enable_gzip=True) as client:
        api = client.write_api(write_options=SYNCHRONOUS)
        points = []
        for i in range(500):
            ms = (now - 7200) * 1000 + i
            value = i * 0.25 - 17
            points.append(Point("env").tag("device_id", "v2dev%d" % (i % 5)).tag("line", "l%d" % (i % 3)).field("v2_reading", value)
                          .field("v2_count", i).field("v2_ok", i % 2 == 0).time(ms, WritePrecision.MS))
            out["expected_readings"] += [{"device": "v2dev%d" % (i % 5), "metric": "v2_reading", "micros": ms * 1000, "value": repr(value)},
                                         {"device": "v2dev%d" % (i % 5), "metric": "v2_count", "micros": ms * 1000, "value": repr(float(i))},
                                         {"device": "v2dev%d" % (i % 5), "metric": "v2_ok", "micros": ms * 1000, "value": "1.0" if i % 2 == 0 else "0.0"}]
        api.write(bucket="telemetry", record=points)
        ms = (now - 7000) * 1000
        try:
            api.write(bucket="telemetry", record="env,device_id=v2bad v2_reading=1 %d\nenv,device_id=v2bad v2_reading=1.2.3 %d" % (ms, ms + 1),
                      write_precision=WritePrecision.MS)
            out["errors"].append("a malformed line was not refused")
        except ApiException as error:
            body = json.loads(error.body)
            if error.status != 400 or body.get("code") != "invalid" or body.get("line") != 2 or "1.2.3" not in body.get("message", ""):
                out["errors"].append("malformed line: %s %s" % (error.status, error.body))
        out["expected_readings"].append({"device": "v2bad", "metric": "v2_reading", "micros": ms * 1000, "value": "1.0"})
    with Client2(url="http://127.0.0.1:%d" % hub_port, token="not-the-token", org="plant") as client:
        try:
            client.write_api(write_options=SYNCHRONOUS).write(bucket="telemetry", record="env,device_id=v2x v=1")
            out["errors"].append("a wrong token was accepted")
        except ApiException as error:
            if error.status != 401 or json.loads(error.body).get("code") != "unauthorized":
                out["errors"].append("wrong token: %s %s" % (error.status, error.body))
    return out


main()
