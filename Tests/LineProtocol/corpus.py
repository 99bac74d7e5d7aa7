"""The line-protocol parity corpus: >= 10 000 lines covering the grammar, valid and malformed.

Each entry is a dict: text (the line as sent), precision, and for a line both servers should
accept, what it should parse to (measurement, tags, fields with their type and value, timestamp).
`expect` says which verdicts the servers give: "both" (accepted by both), "neither" (refused by
both), or one of the documented differences (Docs/http-ingest.md, "Differences from InfluxDB"):
  "hub_only:unsigned"      influxd 1.6 refuses every `u` field (unsigned support is off there)
  "influx_only:<reason>"   the hub refuses what it cannot store as a sample: no device tag, a device
                           over 128 bytes or with control characters, a metric over 64 bytes, a
                           label over 4 096 bytes, invalid UTF-8
Deterministic for a given seed.
"""
import random

PRECISIONS = {"n": 1, "u": 1000, "ms": 1_000_000, "s": 1_000_000_000}


def esc_measurement(s):
    return s.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def esc_key(s):
    return s.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def esc_string(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def floats(rng):
    special = ["1", "-1", "0", "-0", "0.0", "-0.0", "1.5", "-1.5e3", "1E-5", "1e+10", ".5", "5.", "-.25", "123456789012345678",
               "1.7976931348623157e308", "-1.7976931348623157e308", "5e-324", "2.2250738585072014e-308", "3.141592653589793",
               "0.1", "1e308", "-1e-308", "00012", "1.000000000000000000001"]
    if rng.random() < 0.3:
        return rng.choice(special)
    return repr(rng.uniform(-1e6, 1e6))


def build(seed=20, base_seconds=None, count=10_000):
    rng = random.Random(seed)
    assert base_seconds is not None
    entries = []
    serial = [0]

    def stamp(precision):
        # A timestamp unique to the line, within the last ~3 hours, in the precision's units.
        serial[0] += 1
        seconds = base_seconds - 10_800 + serial[0]
        nanos = seconds * 1_000_000_000 + rng.randrange(0, 1_000_000) * 1000 + (rng.randrange(1000) if precision == "n" else 0)
        return nanos // PRECISIONS[precision]

    def valid(precision, measurement, device_tag, device, tags, fields, ts="auto", expect="both", raw_ts=None):
        if ts == "auto":
            ts = stamp(precision)
        parts = [esc_measurement(measurement)]
        tag_items = [(device_tag, device)] + list(tags) if device_tag else list(tags)
        rng.shuffle(tag_items)
        for k, v in tag_items:
            parts.append("," + esc_key(k) + "=" + esc_key(v))
        text = "".join(parts) + " " + ",".join(esc_key(k) + "=" + f[2] for k, f in fields)
        if ts is not None:
            text += " " + (raw_ts if raw_ts is not None else str(ts))
        entries.append({"text": text, "precision": precision, "expect": expect, "measurement": measurement, "device": device,
                        "tags": dict(tag_items), "fields": {k: (f[0], f[1]) for k, f in fields}, "ts": ts})

    def invalid(precision, text, expect="neither"):
        entries.append({"text": text, "precision": precision, "expect": expect})

    def field(kind, rng):
        if kind == "float":
            t = floats(rng)
            return ("float", float(t), t)
        if kind == "int":
            v = rng.choice([0, 1, -1, 2**63 - 1, -(2**63), 2**53 + 1, rng.randrange(-10**12, 10**12)])
            return ("int", v, "%di" % v)
        if kind == "bool":
            t = rng.choice(["t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"])
            return ("bool", t.lower().startswith("t"), t)
        if kind == "string":
            s = rng.choice(["", "hello", 'say "hi"', "back\\slash", "a,b c=d", "ünïcødé ✓", "tab\there", "x" * 200])
            return ("string", s, '"' + esc_string(s) + '"')
        raise ValueError(kind)

    kinds = ["float", "int", "bool", "string"]
    while len(entries) < count:
        r = rng.random()
        precision = rng.choice(list(PRECISIONS))
        m = rng.randrange(8)
        measurement = rng.choice(["env", "power", "we ird,meas", "m=eq", "ünï", "cpu"]) + str(m)
        device = "dev%03d" % rng.randrange(300)
        device_tag = rng.choice(["device_id", "device_id", "device", "host"])
        tags = [("site", rng.choice(["north", "south", "we st", "a,b", "x=y"]))] if rng.random() < 0.6 else []
        if r < 0.62:
            # Ordinary points: one to four fields, each key used with one type only (as InfluxDB
            # requires within a measurement), escapes and every value syntax.
            n = rng.randrange(1, 5)
            chosen = rng.sample(kinds, n)
            fields = []
            for kind in chosen:
                key = rng.choice(["f_%s_%d" % (kind, rng.randrange(4)), "f %s,%d" % (kind, rng.randrange(2)), "f=%s" % kind])
                fields.append((key, field(kind, rng)))
            valid(precision, measurement, device_tag, device, tags, fields)
        elif r < 0.66:
            # No timestamp: the server's time; a device of its own so the point is found again.
            serial[0] += 1
            valid(precision, measurement, "device_id", "nots%05d" % serial[0], tags, [("f_float_0", field("float", rng))], ts=None)
        elif r < 0.70:
            # Blank lines, comments, leading blanks, CRLF ends, spaces before the timestamp.
            choice = rng.randrange(5)
            if choice == 0:
                invalid(precision, "", expect="skip")
            elif choice == 1:
                invalid(precision, "# a comment, with = and \" quote", expect="skip")
            elif choice == 2:
                invalid(precision, "   \t  ", expect="skip")
            else:
                ts = stamp(precision)
                f = field("float", rng)
                lead = rng.choice(["  ", "\t", ""])
                tail = rng.choice(["", " ", "  "])
                text = "%s%s,device_id=%s f_float_1=%s  %d%s" % (lead, esc_measurement(measurement), device, f[2], ts, tail)
                entries.append({"text": text, "precision": precision, "expect": "both", "measurement": measurement, "device": device,
                                "tags": {"device_id": device}, "fields": {"f_float_1": (f[0], f[1])}, "ts": ts})
        elif r < 0.86:
            # Malformed lines: both servers refuse them (influxd 1.6 refuses a CR ending a line
            # unless it follows a string value).
            ts = stamp(precision)
            d = "device_id=" + device
            bad = rng.choice([
                "m,%s" % d, "m,%s " % d, "m,%s f=" % d, "m,%s f" % d, "m,%s =1" % d, "m,%s f=1.2.3" % d, "m,%s f=1ee2" % d,
                "m,%s f=abc" % d, "m,%s f=\"unbalanced" % d, "m,%s f=1 12a" % d, ",%s f=1" % d, "m,%s f=1i2" % d,
                "m,%s,%s f=1" % (d, d), "m,%s,t f=1" % d, "m,%s,t= f=1" % d, "m,%s f=inf" % d, "m,%s f=NaN" % d,
                "m,%s f=0x10" % d, "m,%s f=1_000" % d, "m,%s f=1 123 456" % d, "m,%s f=9223372036854775808i" % d,
                "m,%s f=-9223372036854775809i" % d, "m,%s f=tRUE" % d, "m,%s f=1,,g=2" % d, "m,%s f=1, g=2" % d,
                "m,%s f=1 %d5" % (d, ts), "m,%s f=1 -" % d, "m,%s f=1i %s" % (d, "9" * 30), "m,%s f=\"a\"b\" " % d,
                "m,%s f=1u2" % d, "m,%s f=--1" % d, "m,%s f=1e" % d, "m,%s f=+1" % d,
                "m,%s f=1\r" % d, "m,%s f=1 %d\r" % (d, ts), "m,%s f=1 %d \r" % (d, ts), "m,%s f=t\r" % d, "m,%s f=1 %d\t" % (d, ts),
            ])
            invalid(precision, bad)
        elif r < 0.90:
            # Unsigned fields: influxd 1.6 refuses them; the hub stores them.
            v = rng.choice([0, 1, 2**64 - 1, 2**53 + 1, rng.randrange(10**15)])
            valid(precision, measurement, "device_id", device, [], [("f_uint_0", ("uint", v, "%du" % v))], expect="hub_only:unsigned")
        elif r < 0.93:
            # What the hub cannot store as a sample and refuses; influxd accepts it.
            what = rng.randrange(6)
            f = [("f_float_0", field("float", rng))]
            if what == 0:
                valid(precision, measurement, None, None, [("site", "north")], f, expect="influx_only:no_device_tag")
            elif what == 1:
                valid(precision, measurement, "device_id", "d" * 129, [], f, expect="influx_only:device_too_long")
            elif what == 2:
                valid(precision, measurement, "device_id", device, [], [("k" * 65, field("float", rng))], expect="influx_only:metric_too_long")
            elif what == 3:
                valid(precision, measurement, "device_id", device, [("site", "v" * 4097)], f, expect="influx_only:label_too_long")
            elif what == 4:
                valid(precision, measurement, "device_id", "ctl\x01dev", [], f, expect="influx_only:control_characters")
            else:
                valid(precision, measurement, "device_id", device, [], [("f_ctl\x07", field("float", rng))], expect="influx_only:control_characters")
        elif r < 0.95:
            # Timestamps at the ends of InfluxDB's range (1677 … 2262): both accept; the hub keeps
            # readings for validation.* retention only, so it dead-letters them (counted).
            nanos = rng.choice([-(2**63) + 2, 2**63 - 2, -86_400 * 365 * 10**9, 4102444800 * 10**9])
            units = PRECISIONS[precision]
            if nanos // units * units != nanos and precision != "n":
                nanos = nanos // units * units
            ts = nanos // units
            if not (-(2**63) + 2 <= ts * units <= 2**63 - 1):
                continue
            valid(precision, measurement, "device_id", device, [], [("f_float_2", field("float", rng))], ts=ts, expect="both:dead_letter")
        else:
            # Out of range once scaled to nanoseconds: both refuse.
            ts = {"n": "9223372036854775807", "u": "9223372036854776", "ms": "9223372036855", "s": "9223372037"}[precision]
            invalid(precision, "m,device_id=%s f=1 %s" % (device, ts))
    return entries
