"""Publishes QoS 1 telemetry through an MQTT broker with paho-mqtt (an independent client).

Usage: publish.py HOST PORT VERSION(3.1.1|5.0) CAFILE(or -) COUNT PREFIX BAD_EVERY RATE
(RATE: messages per second at most, so a test can act while they flow.)
Message i (0-based) is one reading of device PREFIX_d<i % 47>, value i, at a timestamp unique to it,
in one of the hub's three payload formats in turn: a value `{"value": i, "ts": …}` on
telemetry/<device>/load, a seed JSON object on telemetry/<device>, line protocol on lp/<device>.
Every BAD_EVERY-th message is a bad payload instead (`bad <i> …`, unique). Waits until the broker
acknowledged every message (PUBACK), then prints one JSON line: sent, good, bad, value_sum.
"""
import json
import sys
import time

import paho.mqtt.client as mqtt

host, port, version, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
count, prefix, bad_every, rate = int(sys.argv[5]), sys.argv[6], int(sys.argv[7]), float(sys.argv[8])

protocol = mqtt.MQTTv5 if version == "5.0" else mqtt.MQTTv311
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pub-%s-%s" % (prefix, version), protocol=protocol)
if cafile != "-":
    client.tls_set(ca_certs=cafile)
client.max_inflight_messages_set(100)
client.max_queued_messages_set(0)
client.connect(host, port, keepalive=30)
client.loop_start()

base_ms = int(time.time() * 1000) - 3_600_000
started = time.time()
good = bad = value_sum = 0
pending = []
infos = []
for i in range(count):
    device = "%s_d%d" % (prefix, i % 47)
    ts = base_ms + i
    if bad_every and i % bad_every == bad_every - 1:
        topic, payload = ["telemetry/%s/load" % device, "telemetry/%s" % device, "lp/%s" % device][i % 3], "bad %d %s {" % (i, prefix)
        bad += 1
    elif i % 3 == 0:
        topic, payload = "telemetry/%s/load" % device, json.dumps({"value": i, "ts": ts})
        good += 1
        value_sum += i
    elif i % 3 == 1:
        topic, payload = "telemetry/%s" % device, json.dumps({"device_id": device, "timestamp": ts, "load": i})
        good += 1
        value_sum += i
    else:
        topic, payload = "lp/%s" % device, "plant,device_id=%s,line=l%d load=%di %d" % (device, i % 3, i, ts * 1_000_000)
        good += 1
        value_sum += i
    info = client.publish(topic, payload, qos=1)
    pending.append(info)
    infos.append(info)
    if len(pending) >= 200:
        for info in pending:
            info.wait_for_publish(timeout=120)
        pending = []
        ahead = (i + 1) / rate - (time.time() - started)
        if ahead > 0:
            time.sleep(ahead)
for info in pending:
    info.wait_for_publish(timeout=120)
unacked = sum(1 for info in infos if not info.is_published())
client.loop_stop()
client.disconnect()
print(json.dumps({"sent": count, "good": good, "bad": bad, "value_sum": value_sum, "unacked": unacked}), flush=True)
