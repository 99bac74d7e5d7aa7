#!/usr/bin/env python3
"""Reads the lake's Parquet files with three independent readers (pyarrow, duckdb, fastparquet)
and prints what each saw as one JSON document, for the integration tests to compare with SQL.

  check_parquet.py rows FILE...     every row of the files, per reader (small files)
  check_parquet.py days ROOT        per day, device, metric and tenant: count, sum, min, max,
                                    first and last ts, from every *.parquet under ROOT/samples

Timestamps are printed as microseconds since the epoch, doubles as repr() (exact).
"""
import glob
import json
import math
import os
import sys

COLUMNS = ["device", "metric", "unit", "tenant", "ts", "value", "ingested_at"]


def num(value):
    return repr(float(value))


def micros(value):
    """A reader's timestamp (datetime, pandas Timestamp or numpy datetime64) as epoch micros."""
    import numpy as np
    import pandas as pd
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[us]").astype(np.int64))
    if isinstance(value, pd.Timestamp):
        return int(value.value // 1000)
    import datetime
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    delta = value - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def row(values):
    device, metric, unit, tenant, ts, value, ingested = values
    return [device, metric, None if unit is None or (isinstance(unit, float) and math.isnan(unit)) else unit,
            tenant, micros(ts), num(value), micros(ingested)]


def rows_pyarrow(files):
    import pyarrow.parquet as pq
    out = []
    for path in files:
        table = pq.read_table(path)
        assert table.column_names == COLUMNS, table.column_names
        assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]", table.schema.field("ts").type
        data = [table.column(name).to_pylist() for name in COLUMNS]
        data[4] = [int(v) for v in table.column("ts").cast("int64").to_pylist()]
        data[6] = [int(v) for v in table.column("ingested_at").cast("int64").to_pylist()]
        out += [row(values) for values in zip(*data)]
    return out


def rows_duckdb(files):
    import duckdb
    con = duckdb.connect()
    out = []
    for path in files:
        result = con.execute("SELECT device, metric, unit, tenant, epoch_us(ts), value, epoch_us(ingested_at) FROM read_parquet(?)", [path]).fetchall()
        out += [row(values) for values in result]
    return out


def epoch_micros(series):
    """A pandas datetime column (UTC-aware or, as fastparquet reads it, naive UTC) as epoch micros."""
    if series.dt.tz is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.astype("datetime64[us]").astype("int64")


def rows_fastparquet(files):
    import fastparquet
    out = []
    for path in files:
        frame = fastparquet.ParquetFile(path).to_pandas()
        assert list(frame.columns) == COLUMNS, list(frame.columns)
        ts, ingested = (epoch_micros(frame[name]) for name in ("ts", "ingested_at"))
        for i in range(len(frame)):
            unit = frame["unit"].iat[i]
            out.append(row((frame["device"].iat[i], frame["metric"].iat[i], None if unit is None or unit is math.nan else unit,
                            frame["tenant"].iat[i], int(ts.iat[i]), frame["value"].iat[i], int(ingested.iat[i]))))
    return out


def days(root):
    """Groups of every file under root: {day/device/metric/tenant: [count, sum, min, max, first_ts, last_ts]} per reader."""
    files = sorted(glob.glob(os.path.join(root, "samples", "year=*", "month=*", "day=*", "*.parquet")))
    result = {"files": [os.path.relpath(f, root) for f in files]}
    for name, reader in (("pyarrow", rows_pyarrow), ("duckdb", rows_duckdb), ("fastparquet", rows_fastparquet)):
        groups = {}
        for f in files:
            day = "-".join(part.split("=")[1] for part in f.split(os.sep)[-4:-1])
            for device, metric, unit, tenant, ts, value, ingested in reader([f]):
                key = "/".join([day, tenant, device, metric])
                v = float(value)
                g = groups.get(key)
                if g is None:
                    groups[key] = [1, v, v, v, ts, ts]
                else:
                    g[0] += 1
                    g[1] += v
                    g[2] = min(g[2], v)
                    g[3] = max(g[3], v)
                    g[4] = min(g[4], ts)
                    g[5] = max(g[5], ts)
        result[name] = {k: [g[0], num(g[1]), num(g[2]), num(g[3]), g[4], g[5]] for k, g in groups.items()}
    # duckdb over the whole tree at once, by hive partition, as an analyst would query it.
    import duckdb
    if files:
        pattern = os.path.join(root, "samples", "*", "*", "*", "*.parquet")
        total = duckdb.connect().execute(f"SELECT count(*), year, month, day FROM read_parquet('{pattern}', hive_partitioning=true) GROUP BY ALL").fetchall()
        result["duckdb_hive"] = {f"{int(y):04d}-{int(m):02d}-{int(d):02d}": c for c, y, m, d in total}
    else:
        result["duckdb_hive"] = {}
    return result


def main():
    mode = sys.argv[1]
    if mode == "rows":
        files = sys.argv[2:]
        print(json.dumps({"pyarrow": rows_pyarrow(files), "duckdb": rows_duckdb(files), "fastparquet": rows_fastparquet(files)}))
    elif mode == "days":
        print(json.dumps(days(sys.argv[2])))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
