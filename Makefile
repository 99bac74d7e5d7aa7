# Telemetry platform. `make run` and `make test` are all a new machine needs (Debian 12 + Swift).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# What building and `make run` need: the daemons' build and runtime libraries, Redis, PostgreSQL.
RUN_PACKAGES := redis-server redis-tools libhiredis-dev libpq-dev libsystemd-dev zlib1g-dev postgresql postgresql-client \
	pkg-config curl libzstd-dev libsnappy-dev
# What the tests and `make lint` add: Python for the checkers, socat and iproute2 for the fault
# drills, systemd-analyze, promtool, yamllint, shellcheck, rsvg-convert (renders the bench chart),
# wal2json (the change feed's slot reader), Alertmanager (alert delivery), InfluxDB 1.6 (line-protocol
# parity) and Mosquitto (MQTT ingest).
TEST_PACKAGES := python3 python3-venv socat util-linux iproute2 systemd prometheus yamllint shellcheck librsvg2-bin wrk redis-sentinel \
	postgresql-15-wal2json prometheus-alertmanager influxdb mosquitto mosquitto-clients
# A real Modbus RTU slave for the bus tests (pymodbus), the OpenAPI checker (schemathesis) and three
# independent Parquet readers for the lake (pyarrow, duckdb, fastparquet), InfluxDB's official clients
# (influxdb, influxdb-client) and paho-mqtt as independent writers, from PyPI, in a virtual
# environment under .run/.
PYTHON_VENV := .run/venv
PYTHON_PACKAGES := pymodbus==3.16.1 pyserial==3.5 schemathesis==4.32.5 pyarrow==26.0.1 duckdb==2.0.1 fastparquet==2026.9.0 influxdb==5.3.2 influxdb-client==1.50.0 paho-mqtt==2.2.0
RUN_REDIS_PORT := 16379
RUN_PG_PORT := 15432
RUN_REPLICA_PORT := 15433
TEST_REDIS_PORT := 26379
TEST_PG_PORT := 25432
TEST_REPLICA_PORT := 25433
BENCH_REDIS_PORT := 36379
BENCH_PG_PORT := 35432
# Commit timestamps give the bench sample → commit latency; the sizing is what a production
# server of this size would run with (Docs/performance.md).
BENCH_PG_OPTIONS := -c track_commit_timestamp=on -c shared_buffers=1GB -c max_wal_size=8GB -c checkpoint_timeout=30min

TEST_ENV := REDIS_HOST=127.0.0.1 REDIS_PORT=$(TEST_REDIS_PORT) \
	PGHOST=127.0.0.1 PGPORT=$(TEST_PG_PORT) PGUSER=telemetry PGDATABASE=telemetry TELEMETRY_REPLICA_PORT=$(TEST_REPLICA_PORT) \
	TELEMETRY_BIN_DIR=$(CURDIR)/.build/debug TELEMETRY_PYTHON=$(CURDIR)/$(PYTHON_VENV)/bin/python

.PHONY: help deps deps-test deps-bench build release run test drill lint bench microbench fuzz container-test services-test services-run services-bench stop clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

deps: ## Install what building and running need (no recommends; Debian's own servers are not started)
	@Deploy/dev/install-packages.sh $(RUN_PACKAGES)

deps-test: deps ## Install what the tests and lint add, and the tests' Python venv (pymodbus, schemathesis, Parquet readers; when missing)
	@Deploy/dev/install-packages.sh $(TEST_PACKAGES)
	@if ! $(PYTHON_VENV)/bin/python -c 'import sys, pymodbus, importlib.metadata as m; sys.exit(pymodbus.__version__ != "3.16.1" or m.version("schemathesis") != "4.32.5" or m.version("pyarrow") != "26.0.1" or m.version("duckdb") != "2.0.1" or m.version("fastparquet") != "2026.9.0" or m.version("influxdb") != "5.3.2" or m.version("influxdb-client") != "1.50.0" or m.version("paho-mqtt") != "2.2.0")' 2>/dev/null; then \
		echo "installing $(PYTHON_PACKAGES) into $(PYTHON_VENV)"; \
		/usr/bin/python3 -m venv $(PYTHON_VENV) && \
		$(PYTHON_VENV)/bin/pip install -q --disable-pip-version-check $(PYTHON_PACKAGES); \
	fi

build: deps ## Debug build of every target
	swift build

release: deps ## Release build of the daemons and the CLI
	swift build -c release

services-run: deps ## Start Redis (:16379) and PostgreSQL (:15432) for `make run`, data under .run/run
	Deploy/dev/services.sh start run $(RUN_REDIS_PORT) $(RUN_PG_PORT) $(RUN_REPLICA_PORT)

services-test: deps-test ## Start Redis (:26379), PostgreSQL (:25432) and its streaming replica (:25433) for the tests, data under .run/test
	DURABLE=0 Deploy/dev/services.sh start test $(TEST_REDIS_PORT) $(TEST_PG_PORT) $(TEST_REPLICA_PORT)

run: services-run release ## Run the hub (simulated sensors), the processor and the query daemon until Ctrl-C
	Deploy/dev/run.sh $(RUN_REDIS_PORT) $(RUN_PG_PORT) $(RUN_REPLICA_PORT)

lint: deps-test ## yamllint, shellcheck, promtool check rules/config and JSON checks on Deploy/ and the scripts
	Deploy/lint.sh

test: services-test lint ## Build and run every test against the local Redis and PostgreSQL
	swift build --build-tests 2>&1 | tee .run/build.log; exit $${PIPESTATUS[0]}
	@# A fresh clone (CI) compiles every file, so a new warning fails here.
	Deploy/dev/check-warnings.sh .run/build.log
	@# Unit tests in parallel; the integration tests one at a time (each runs daemons and servers of
	@# its own, and two cores are no place for several such drills at once).
	$(TEST_ENV) timeout --signal=KILL 600 swift test --skip-build --parallel --num-workers 2 --skip IntegrationTests 2>&1 | tee .run/test-unit.log; exit $${PIPESTATUS[0]}
	$(TEST_ENV) timeout --signal=KILL 1500 swift test --skip-build --no-parallel --filter IntegrationTests 2>&1 | tee .run/test-integration.log; exit $${PIPESTATUS[0]}

drill: services-test ## The long versions of the drills (make test runs short ones): five Sentinel failovers in a row under load, a Redis Cluster master killed behind the durability gate, a longer PostgreSQL failover gap, 60 000 MQTT messages through two hub kills
	swift build --build-tests
	$(TEST_ENV) TELEMETRY_DRILL_LONG=1 timeout --signal=KILL 1800 swift test --skip-build --no-parallel --filter 'SentinelDrillTests|ClusterDrillTests|PostgresFailoverDrillTests|MQTTIngestTests'

services-bench: deps ## Start Redis (:36379) and PostgreSQL (:35432) for `make bench`, data under .run/bench
	PG_OPTIONS="$(BENCH_PG_OPTIONS)" Deploy/dev/services.sh start bench $(BENCH_REDIS_PORT) $(BENCH_PG_PORT)

bench: services-bench deps-bench release ## Measure the pipeline against its baselines; writes bench/report.md, .json and .svg
	.build/release/telemetry-bench --redis-port $(BENCH_REDIS_PORT) --pg-port $(BENCH_PG_PORT) $(BENCH_ARGS)

fuzz: deps ## libFuzzer (address sanitizer) over every decoder of outside bytes, FUZZ_RUNS each (default 10 million); see Tests/Fuzz/fuzz.sh
	Tests/Fuzz/fuzz.sh $(FUZZ_TARGETS)

deps-bench: deps ## Install what make bench adds (wrk for the query section; influxd, Mosquitto and its clients for the peers section)
	@Deploy/dev/install-packages.sh wrk influxdb mosquitto mosquitto-clients

microbench: deps ## Codec and hub steady-state microbenchmarks with allocation counts (package-benchmark, Benchmarks/)
	swift package --package-path Benchmarks --allow-writing-to-package-directory benchmark --no-progress

stop: ## Stop the servers started by `make run`, `make test` and `make bench`
	Deploy/dev/services.sh stop run
	Deploy/dev/services.sh stop test
	Deploy/dev/services.sh stop bench

clean: stop ## Remove build products and server data
	rm -rf .build .run

container-test: ## Build the hub's runtime image with podman (Debian 12 base from debootstrap) and run it against the test Redis
	REDIS_PORT=$(TEST_REDIS_PORT) Deploy/container/test.sh
